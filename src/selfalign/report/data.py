"""What the HTML report shows, read from a run directory: the funnel and its drop reasons, the
verdicts' statuses and times, the instructions' concepts, categories and difficulties, what was
decontaminated against and what it caught, the loss curve, the before/after evaluation
(``evaluate.before_after.loop_report``), the settings and versions, and every sample row.

It reads only files the run wrote, so it works on a run that is still going or that stopped
early: a missing file leaves its section empty. The trade-off: the stage files are read in full
once (``samples.collect_samples``) and every count is derived from those rows, so the figures
and the sample browser can never disagree, at the cost of holding the run's rows in memory.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfalign.evaluate.before_after import loop_report
from selfalign.report.funnel import funnel_rows, funnel_table
from selfalign.report.samples import Samples, collect_samples


@dataclass
class ReportData:
    run_dir: Path
    manifest: dict[str, Any]
    funnel_header: list[str]
    funnel: list[tuple[str, ...]]
    samples: Samples
    exec_status: Counter = field(default_factory=Counter)
    exec_seconds: list[float] = field(default_factory=list)
    categories: Counter = field(default_factory=Counter)
    difficulties: Counter = field(default_factory=Counter)
    concepts: Counter = field(default_factory=Counter)
    decontamination: list[dict[str, Any]] = field(default_factory=list)
    decontam_hits: list[dict[str, Any]] = field(default_factory=list)
    loss: dict[str, Any] | None = None
    loop: dict[str, Any] = field(default_factory=dict)
    config_text: str = ""

    @property
    def stages(self) -> dict[str, dict[str, Any]]:
        return self.manifest.get("stages", {})

    @property
    def record_stages(self) -> dict[str, dict[str, Any]]:
        return {name: e for name, e in self.stages.items() if e.get("kind") != "artifact"}

    @property
    def isolation(self) -> list[str]:
        return list(self.stages.get("execute", {}).get("isolation") or [])

    @property
    def models(self) -> list[str]:
        """Every model a step used, in the order the steps ran."""
        names = [e["model"].get("name", "") for e in self.stages.values() if isinstance(e.get("model"), dict)]
        return list(dict.fromkeys(n for n in names if n))


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def gather(run_dir: str | Path) -> ReportData:
    """Everything the report shows, from the files of one run directory."""
    run = Path(run_dir)
    manifest = read_json(run / "manifest.json")
    if manifest is None:
        raise FileNotFoundError(f"no readable manifest.json in {run} (has a run started there?)")
    header = [str(column.header) for column in funnel_table(manifest).columns]
    config = run / "config.toml"
    data = ReportData(run, manifest, header, funnel_rows(manifest), collect_samples(run),
                      loop=loop_report(run), loss=read_json(run / "train" / "loss.json"),
                      config_text=config.read_text(encoding="utf-8") if config.exists() else "")
    _count_rows(data)
    _decontamination(data)
    return data


def _count_rows(data: ReportData) -> None:
    for row in data.samples.rows:
        if row.stage == "execute":
            data.exec_status[row.status] += 1
            seconds = row.detail.get("exec", {}).get("wall_s")
            if isinstance(seconds, (int, float)):
                data.exec_seconds.append(float(seconds))
        elif row.stage == "instructions" and row.kept:
            props = row.detail.get("properties") or {}
            data.categories[row.category or "(none)"] += 1
            data.difficulties[row.difficulty or "(none)"] += 1
            data.concepts.update(str(c) for c in props.get("concepts") or [])
    if not data.concepts:   # instructions written before properties carried their concepts
        for row in data.samples.rows:
            if row.stage == "concepts" and row.kept:
                data.concepts.update(str(c) for c in row.detail.get("concepts") or [])


def _decontamination(data: ReportData) -> None:
    """What each step was decontaminated against (its manifest entry) and every hit: the seeds
    and curated rows a ``decontam:*`` filter dropped, with the benchmark item in their detail."""
    for step in ("seeds", "curate"):
        entry = data.stages.get(step, {}).get("decontamination")
        if isinstance(entry, dict):
            data.decontamination.append({"step": step, "enabled": bool(entry.get("enabled")),
                                         "against": entry.get("against") or entry.get("texts") or {},
                                         "unavailable": entry.get("unavailable") or entry.get("skipped") or {}})
    for row in data.samples.rows:
        if row.reason.startswith("decontam"):
            data.decontam_hits.append({"step": row.stage, "reason": row.reason,
                                       "detail": row.detail.get("detail", ""), "row": row.title})
