"""The ``report`` step: the before/after table of a self-alignment run (``selfalign.evaluate.
before_after``), saved as ``<run dir>/report/report.json`` and ``report.md``; the base's
native-template evaluation (``eval_native``) is read when it ran, not required. It reads only
files the earlier steps wrote, so it is cheap to redo. Off unless ``run.steps`` names it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfalign.stages.base import ArtifactStep
from selfalign.stages.context import RunContext
from selfalign.store import atomic_write_text

REPORT_JSON, REPORT_MD = "report.json", "report.md"


class ReportStep(ArtifactStep):
    name = "report"
    inputs = ("eval_base", "eval_trained")
    sections = ("eval",)

    def build(self, run: RunContext, out_dir: Path) -> dict[str, Any]:
        report = write_report(run.run_dir)
        changes = {row["name"]: row["delta"] for bench in report["benchmarks"] for row in bench["rows"]}
        return {"report": f"{self.name}/{REPORT_MD}", "change": changes, "notes": report["notes"]}


def write_report(run_dir: Path) -> dict[str, Any]:
    """(Re)write ``report/report.json`` and ``report.md`` from the run's files as they are now;
    return the report. ``selfalign experiment`` calls it after every run too, so a before column
    that gained an evaluation later (``eval_native`` run after the report) is not left stale."""
    from selfalign.evaluate.before_after import loop_report, render_markdown

    report = loop_report(run_dir)
    out_dir = run_dir / ReportStep.name
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / REPORT_JSON, json.dumps(report, indent=1) + "\n")
    atomic_write_text(out_dir / REPORT_MD, render_markdown(report))
    return report
