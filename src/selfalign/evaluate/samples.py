"""Sample files: one JSON line per (task, sample), appended as generated, resumable after kill -9.

Rows carry ``task_id``, ``sample`` (index), ``solution`` (the full program we run, EvalPlus's
name) and ``raw`` (the model's text, kept beside the parsed code). Reading also accepts
human-eval files (``completion``, appended to the problem's prompt) and EvalPlus files
(``solution``), so outputs of other tools can be rescored.

Resume rule: a task's samples are appended in one write; on reopen a torn last line (the process
died mid-write) is cut off, and (task_id, sample) pairs already present are never written again,
so a killed run continues without duplicates. Trade-off: a task interrupted halfway is redone
whole (its missing samples are regenerated), which wastes at most one task of work.

Identity: a file we generate has a sidecar, ``<name>.meta.json`` (``humaneval.samples.jsonl`` ->
``humaneval.samples.meta.json``), naming the model (backend, fingerprint, output options) and the
generation settings. A writer given an identity refuses to append to a file written under
another one, or to a file with samples but no sidecar, so one file never mixes two models or two
settings. The sidecar, not a header line, keeps the file itself in the format human-eval and
EvalPlus read, and files without one can still be rescored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from selfalign.benchmarks import BenchmarkError, Problem

META_FORMAT = "selfalign-samples v1"


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


def meta_path(path: str | os.PathLike[str]) -> Path:
    """The identity sidecar of a sample file: ``x.samples.jsonl`` -> ``x.samples.meta.json``."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".jsonl") + ".meta.json")


def read_identity(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The identity a sample file was written under, or None (a foreign or older file)."""
    sidecar = meta_path(path)
    if not sidecar.exists():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchmarkError(f"{sidecar}: invalid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise BenchmarkError(f"{sidecar}: not a selfalign sample identity ({META_FORMAT!r})")
    return meta.get("identity")


def _write_identity(path: Path, identity: dict[str, Any]) -> None:
    sidecar = meta_path(path)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps({"format": META_FORMAT, "identity": identity}, indent=1,
                              sort_keys=True, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, sidecar)


def _describe(identity: dict[str, Any]) -> str:
    model = identity.get("model", {})
    return f"{model.get('name', '?')} (fingerprint {model.get('fingerprint', '?')})"


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """'key: old -> new' for every leaf that differs (the model's display name aside)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if f"{prefix}{key}" == "model.name" or a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return out


def check_identity(path: Path, found: dict[str, Any] | None, wanted: dict[str, Any]) -> None:
    """Refuse to extend a file written by another model or under other settings."""
    way_out = (f"Use another output directory (-o), or delete {path} and {meta_path(path).name} "
               "to generate afresh.")
    if found is None:
        raise BenchmarkError(f"{path} holds samples but no record of the model and settings that "
                             f"wrote them ({meta_path(path).name} is missing), so resuming it with "
                             f"{_describe(wanted)} could mix two models. Rescore it as it is with "
                             f"--samples {path}. {way_out}")
    diffs = _differences(found, wanted)
    if diffs:
        raise BenchmarkError(f"{path} holds samples of {_describe(found)}; this run is "
                             f"{_describe(wanted)}, and resuming would mix the two "
                             f"({'; '.join(diffs)}). {way_out}")


class SampleWriter:
    """Appends samples to a file, skipping (task_id, sample) pairs it already holds.

    With an ``identity`` (what ``evaluate`` passes), the file's sidecar must match it, or be
    absent while the file holds no samples; without one (tests, tools) nothing is checked."""

    def __init__(self, path: str | os.PathLike[str], identity: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.done: dict[str, set[int]] = {}
        if self.path.exists():
            _cut_torn_tail(self.path)
            for sample in read_samples(self.path):
                self.done.setdefault(sample.task_id, set()).add(sample.sample)
        if identity is not None:
            if self.done:
                check_identity(self.path, read_identity(self.path), identity)
            else:   # nothing to protect: (re)start the file under this identity
                _write_identity(self.path, identity)

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
