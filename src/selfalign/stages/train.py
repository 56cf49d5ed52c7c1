"""The ``train`` step: fine-tune the run's own model on the run's curated dataset, into
``<run dir>/train/`` (an HF model directory with ``selfalign.json``, GGUF exports, loss curve).

The model is the one that generated the data (``model.model``; empty = the embedded default)
unless ``train.model`` names its weights (needed when ``model.model`` is a server URL); the
settings are the ``[train]`` section. Training resumes from its newest checkpoint when the
step is run again after a kill (``selfalign.train.job``), and the pipeline marks the step
complete only once the model is saved, checked and exported. An empty curated dataset is not an
error: the step completes as skipped, with the reason, and the steps after it say so too.
Off unless ``run.steps`` names it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfalign.stages.base import ArtifactStep
from selfalign.stages.context import RunContext

DATASET = "dataset"


class TrainStep(ArtifactStep):
    name = "train"
    inputs = ("curate",)
    sections = ("model", "train")

    def build(self, run: RunContext, out_dir: Path) -> dict[str, Any]:
        from selfalign.train import train

        data = run.run_dir / DATASET
        if not _has_rows(data / "data.jsonl"):
            return {"skipped": f"nothing to train on: the curated dataset is empty ({empty_reason(run.run_dir)})"}
        cfg = run.config.train
        card = train(data, out_dir, cfg, cfg.model or run.config.model.model or None, progress=run.show_progress)
        t = card["training"]
        return {"model_dir": self.name, "gguf": card["gguf"].get("files", {}),
                "rows": card["dataset"]["train"], "steps": t["steps"], "train_loss": t["train_loss"],
                "eval_loss": t["eval_loss"], "smoke_ok": card["checks"]["smoke"].get("ok")}


def _has_rows(path: Path) -> bool:
    """The dataset's data.jsonl (plain JSONL, no header) holds at least one row."""
    try:
        with path.open("rb") as fh:
            return any(line.strip() for line in fh)
    except OSError:
        return False


def empty_reason(run_dir: Path) -> str:
    """Where the funnel ran dry: the first stage that kept nothing, and its top drop reasons."""
    try:
        stages = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["stages"]
    except (OSError, ValueError, KeyError):
        return "no manifest"
    for name, entry in stages.items():
        if entry.get("kind") == "artifact" or "kept" not in entry:
            continue
        if entry["kept"] == 0:
            top = sorted(entry.get("dropped", {}).items(), key=lambda kv: -kv[1])[:3]
            reasons = ", ".join(f"{reason} {n}" for reason, n in top)
            return f"{name} kept 0 of {entry.get('in', 0)}" + (f": {reasons}" if reasons else "")
    return "curate kept 0 rows"
