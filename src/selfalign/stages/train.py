"""The ``train`` step: fine-tune the run's own model on the run's curated dataset, into
``<run dir>/train/`` (an HF model directory with ``selfalign.json``, GGUF exports, loss curve).

The model is the one that generated the data (``model.model``; empty = the embedded default)
unless ``train.model`` names its weights (needed when ``model.model`` is a server URL); the
settings are the ``[train]`` section. Training resumes from its newest checkpoint when the
step is run again after a kill (``selfalign.train.job``), and the pipeline marks the step
complete only once the model is saved, checked and exported. Off unless ``run.steps`` names it.
"""

from __future__ import annotations

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

        cfg = run.config.train
        card = train(run.run_dir / DATASET, out_dir, cfg, cfg.model or run.config.model.model or None,
                     progress=run.show_progress)
        t = card["training"]
        return {"model_dir": self.name, "gguf": card["gguf"].get("files", {}),
                "rows": card["dataset"]["train"], "steps": t["steps"], "train_loss": t["train_loss"],
                "eval_loss": t["eval_loss"], "smoke_ok": card["checks"]["smoke"].get("ok")}
