"""Sample files: one JSON line per (task, sample), appended as generated, resumable after kill -9.

Rows carry ``task_id``, ``sample`` (index), ``solution`` (the full program we run, EvalPlus's
name) and ``raw`` (the model's text, kept beside the parsed code). Reading also accepts
human-eval files (``completion``, appended to the problem's prompt) and EvalPlus files
(``solution``), so outputs of other tools can be rescored.

Resume rule: a task's samples are appended in one write; on reopen a torn last line (the process
died mid-write) is cut off, and (task_id, sample) pairs already present are never written again,
so a killed run continues without duplicates. Trade-off: a task interrupted halfway is redone
whole (its missing samples are regenerated), which wastes at most one task of work.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from selfalign.benchmarks import BenchmarkError, Problem


@dataclass
class Sample:
    task_id: str
    sample: int
    solution: str                       # the complete program to run
    raw: str = ""                       # the model's answer before extraction
    meta: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "sample": self.sample, "solution": self.solution,
                "raw": self.raw, **({"meta": self.meta} if self.meta else {})}


def _cut_torn_tail(path: Path) -> None:
    """Drop a partial last line left by a killed writer, so appends start on a fresh line."""
    with open(path, "rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)


def read_samples(path: str | os.PathLike[str], problems: Iterable[Problem] | None = None) -> list[Sample]:
    """Samples of a file in our, human-eval's or EvalPlus's format; first copy of a pair wins."""
    prompts = {p.task_id: p.prompt for p in problems} if problems is not None else {}
    seen: dict[tuple[str, int], Sample] = {}
    counters: dict[str, int] = {}
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if lineno == len(lines):      # a torn last line from a killed run
                break
            raise BenchmarkError(f"{path}:{lineno}: invalid JSON: {exc}") from None
        sample = _sample(row, f"{path}:{lineno}", prompts, counters)
        seen.setdefault((sample.task_id, sample.sample), sample)
    return list(seen.values())


def _sample(row: Any, where: str, prompts: dict[str, str], counters: dict[str, int]) -> Sample:
    if not isinstance(row, dict) or not isinstance(row.get("task_id"), (str, int)):
        raise BenchmarkError(f"{where}: expected an object with a 'task_id'")
    task_id = str(row["task_id"])
    if isinstance(row.get("solution"), str):
        code = row["solution"]
    elif isinstance(row.get("completion"), str):
        if task_id not in prompts and prompts:
            raise BenchmarkError(f"{where}: unknown task_id {task_id!r} for this benchmark")
        code = prompts.get(task_id, "") + row["completion"]
    else:
        raise BenchmarkError(f"{where}: a sample needs a 'solution' or a 'completion' string")
    index = row.get("sample")
    if not isinstance(index, int):       # foreign files: number samples per task in file order
        index = counters.get(task_id, 0)
    counters[task_id] = max(counters.get(task_id, 0), index + 1)
    return Sample(task_id, index, code, raw=row.get("raw", ""), meta=row.get("meta") or {})


class SampleWriter:
    """Appends samples to a file, skipping (task_id, sample) pairs it already holds."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.done: dict[str, set[int]] = {}
        if self.path.exists():
            _cut_torn_tail(self.path)
            for sample in read_samples(self.path):
                self.done.setdefault(sample.task_id, set()).add(sample.sample)

    def missing(self, task_id: str, n: int) -> list[int]:
        have = self.done.get(task_id, set())
        return [i for i in range(n) if i not in have]

    def write(self, samples: list[Sample]) -> None:
        fresh = [s for s in samples if s.sample not in self.done.get(s.task_id, set())]
        if not fresh:
            return
        blob = "".join(json.dumps(s.to_row(), ensure_ascii=False) + "\n" for s in fresh)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        for s in fresh:
            self.done.setdefault(s.task_id, set()).add(s.sample)
