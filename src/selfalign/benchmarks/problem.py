"""The one record every benchmark loader returns: a ``Problem``, plus the shared path rules.

Each upstream format (human-eval, EvalPlus, MBPP, DS-1000, LiveCodeBench) keeps different fields;
we map them onto one dataclass with a few typed fields that scoring needs and a ``meta`` dict for
the rest. The trade-off: a single flat record is easy for decontamination and scoring to share,
at the price of fields that stay empty for benchmarks that do not use them (``plus_inputs`` for
MBPP, ``test_cases`` for everything but LiveCodeBench).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from selfalign.store import InputError, iter_jsonl


class BenchmarkError(ValueError):
    """A benchmark file is missing or malformed; the message names the file, line and field."""


@dataclass
class IOCase:
    """One LiveCodeBench-style test: stdin/stdout text, or a call with JSON-lines arguments."""

    input: str
    output: str
    kind: str = "stdin"          # "stdin" | "functional"


@dataclass
class Problem:
    benchmark: str
    task_id: str
    # Exactly the upstream prompt: a function signature + docstring (HumanEval), the task text
    # (MBPP), the full DS-1000 prompt, or the LiveCodeBench question.
    prompt: str
    canonical_solution: str = ""     # as upstream ("" when none); see ``reference_program``
    entry_point: str = ""            # function to call ("" for DS-1000 / stdin programs)
    test: str = ""                   # upstream test code: check(candidate), asserts, code_context
    base_inputs: list[Any] = field(default_factory=list)   # EvalPlus argument lists
    plus_inputs: list[Any] = field(default_factory=list)
    atol: float = 0.0                # EvalPlus float tolerance (0 = exact match)
    test_cases: list[IOCase] = field(default_factory=list)  # LiveCodeBench tests
    meta: dict[str, Any] = field(default_factory=dict)        # dates, library, setup code ...

    @property
    def reference_program(self) -> str:
        """The canonical solution as a complete program (HumanEval keeps only the body)."""
        if self.benchmark in ("humaneval", "humaneval+"):
            return self.prompt + self.canonical_solution
        return self.canonical_solution


def benchmark_dir() -> Path | None:
    """Where the shared benchmark files live: $SELFALIGN_BENCHMARK_DIR or <repo>/../shared/..."""
    env = os.environ.get("SELFALIGN_BENCHMARK_DIR")
    if env:
        return Path(env)
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "benchmarks"
    return default if default.is_dir() else None


def resolve(path: str | os.PathLike[str] | None, default_names: tuple[str, ...], name: str) -> Path:
    """An explicit file, a directory holding one of ``default_names``, or the benchmark dir."""
    candidates: list[Path] = []
    if path is not None:
        given = Path(path)
        if given.is_file():
            return given
        if not given.is_dir():
            raise BenchmarkError(f"{name}: no such file or directory: {given}")
        candidates = [given / n for n in default_names]
    elif (base := benchmark_dir()) is not None:
        candidates = [base / n for n in default_names]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = ", ".join(str(c) for c in candidates) or "(no benchmark directory found)"
    raise BenchmarkError(f"{name}: data file not found; looked for {where}. Pass a path "
                         f"or set SELFALIGN_BENCHMARK_DIR")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) pairs of a .jsonl or .jsonl.gz file; blank lines are skipped."""
    try:
        for lineno, row in iter_jsonl(path):
            if not isinstance(row, dict):
                raise BenchmarkError(f"{path}:{lineno}: expected a JSON object")
            yield lineno, row
    except InputError as exc:
        raise BenchmarkError(str(exc)) from None


def need(row: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    """A required field of an upstream row, type-checked, with an error naming file:line."""
    if key not in row:
        raise BenchmarkError(f"{where}: missing field {key!r}")
    value = row[key]
    if not isinstance(value, kind):
        raise BenchmarkError(f"{where}: field {key!r} should be {kind}, got {type(value).__name__}")
    return value
