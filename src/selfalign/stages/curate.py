"""Stage 5: curate the verdicts into SFT examples (see ``selfalign.curate``), then export them:
``sft.jsonl`` in the instruct template's prompt/completion form, and ``dataset/``, a folder with
``data.jsonl``, ``data.parquet``, ``dropped.jsonl`` and a dataset card that loads with
``datasets.load_dataset``.

Curation is one chunk (it needs every verdict at once). Its report (counts per reason, stub runs,
decontamination hits) is saved beside the run while the chunk runs, so the export after the merge
can write the card even when a resumed run only had the merge left to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from selfalign.curate.card import info_from_manifest
from selfalign.curate.config import CurateConfig
from selfalign.curate.curation import curate_verdicts
from selfalign.curate.dataset import write_dataset
from selfalign.curate.report import CurationReport
from selfalign.curate.rows import seed_lineage
from selfalign.quality.minhash import LOCAL, Sketcher
from selfalign.records import Dropped, Example, Record, Seed, Verdict
from selfalign.sandbox import Sandbox
from selfalign.stages.base import Items, Stage
from selfalign.stages.context import RunContext
from selfalign.store import AtomicJsonl, atomic_write_text, iter_jsonl, read_records
from selfalign.template import render_prompt

SFT_FILE = "sft.jsonl"
DATASET_DIR = "dataset"
REPORT_FILE = "curate.report.json"


class CurateStage(Stage):
    name = "curate"
    input = "execute"
    sections = ("curate",)
    whole = True

    def __init__(self, cfg: CurateConfig, seed: int, run_dir: Path, sandbox: Sandbox | None,
                 sketcher: Sketcher = LOCAL) -> None:
        self.cfg, self.seed, self.run_dir, self.sandbox, self.sketcher = cfg, seed, run_dir, sandbox, sketcher

    @classmethod
    def from_run(cls, run: RunContext) -> "CurateStage":
        # The sandbox runs what a verdict lacks (a stub run of a run made before stubs existed).
        sandbox = run.sandbox() if run.config.curate.stub_check else None
        return cls(run.config.curate, run.config.run.seed, run.run_dir, sandbox, run.sketcher or LOCAL)

    def run(self, items: Items) -> Iterator[Record | Dropped]:
        verdicts: list[Verdict] = [verdict for _, verdict in items]
        if self.cfg.policy != "passing":    # the ablation draws from failing answers too
            verdicts += failing_verdicts(self.run_dir)
        seeds = seed_lineage(s for s in read_records(self.run_dir / "seeds.jsonl", "seed")
                             if isinstance(s, Seed))
        report = CurationReport()
        yield from curate_verdicts(verdicts, self.cfg, self.seed, sandbox=self.sandbox, seeds=seeds,
                                   report=report, sketcher=self.sketcher)
        atomic_write_text(self.run_dir / REPORT_FILE, json.dumps(report.to_dict(), indent=1) + "\n")

    @classmethod
    def summary(cls, run_dir: Path) -> dict[str, Any]:
        """Which benchmarks the examples were decontaminated against, and which were unavailable."""
        try:
            bench = json.loads((run_dir / REPORT_FILE).read_text(encoding="utf-8")).get("benchmarks") or {}
        except (OSError, ValueError):
            return {}
        if not bench:
            return {"decontamination": {"enabled": False}}
        return {"decontamination": {"enabled": True, "against": bench.get("texts", {}),
                                    "unavailable": bench.get("skipped", {})}}

    @classmethod
    def export(cls, run_dir: Path) -> dict[str, str]:
        examples = [ex for ex in read_records(run_dir / "curate.jsonl", "example") if isinstance(ex, Example)]
        _write_sft(run_dir / SFT_FILE, examples)
        report = CurationReport.from_dict(json.loads((run_dir / REPORT_FILE).read_text(encoding="utf-8")))
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        dropped = (Dropped(row["reason"], row["record"], row.get("detail", ""))
                   for _, row in iter_jsonl(run_dir / "curate.dropped.jsonl") if "reason" in row)
        write_dataset(run_dir / DATASET_DIR, [*examples, *dropped], report,
                      info=info_from_manifest(manifest, source=str(run_dir)))
        return {"sft": SFT_FILE, "dataset": f"{DATASET_DIR}/", "report": REPORT_FILE}


def failing_verdicts(run_dir: Path) -> list[Verdict]:
    """The verdicts the execute stage dropped (exec:fail, timeout, ...), as records."""
    out = []
    for _, row in iter_jsonl(run_dir / "execute.dropped.jsonl"):
        if isinstance(row, dict) and str(row.get("reason", "")).startswith("exec:"):
            out.append(Verdict.from_dict(row["record"]))
    return out


def _write_sft(path: Path, examples: list[Example]) -> None:
    """``sft.jsonl``: plain JSONL (no header: trainers read it directly), one row per example
    with the rendered ``prompt`` and the ``completion`` (BOS/EOS are added as tokens at training)."""
    with AtomicJsonl(path) as out:
        for ex in examples:
            row: dict[str, Any] = {"id": ex.id, "prompt": render_prompt(ex.instruction), "completion": ex.response,
                                   "instruction": ex.instruction, "response": ex.response, "seed_id": ex.seed_id,
                                   "instruction_id": ex.instruction_id, "response_id": ex.response_id}
            out.write(row)
