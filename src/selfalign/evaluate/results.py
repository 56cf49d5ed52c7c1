"""Aggregate sample verdicts into a benchmark result: pass@k, per-problem verdicts, provenance.

The results file (``results.json``, tagged ``selfalign-eval v1``) holds, per benchmark, the
dataset's version and sha256, pass@k for every k the sample count allows (base and plus for
EvalPlus benchmarks), its coverage (problems scored of the problems in the benchmark, less those
excluded because their reference solution fails), the identity of the samples (model and
generation settings, when the sample file records them), and per problem: samples, passes, and
the first failing test of the first failing sample. Trade-off: we keep one failure per problem,
not per sample, so the file stays small for n=200 runs; the sample file plus ``--samples``
rescoring recovers the rest.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from selfalign.evaluate.passk import mean_pass_at_k
from selfalign.evaluate.score import SampleVerdict

FORMAT = "selfalign-eval v1"
KS = (1, 10, 100)


@dataclass
class ProblemResult:
    n: int = 0
    passed: int = 0
    base_passed: int = 0
    failure: dict | None = None


@dataclass
class BenchmarkResult:
    benchmark: str
    dataset: dict[str, str]
    problems: dict[str, ProblemResult] = field(default_factory=dict)
    known_bad_references: dict[str, str] = field(default_factory=dict)   # excluded from scores
    wall_s: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    total: int = 0                          # problems in the benchmark (after --limit)
    identity: dict[str, Any] | None = None  # model + generation settings of the samples

    def add(self, verdicts: Iterable[SampleVerdict]) -> None:
        for v in verdicts:
            problem = self.problems.setdefault(v.task_id, ProblemResult())
            problem.n += 1
            problem.passed += v.passed
            problem.base_passed += v.base_passed
            if v.failure and problem.failure is None:
                problem.failure = {"sample": v.sample, "status": v.status, **v.failure}

    def pass_at(self, base: bool = False) -> dict[str, float]:
        counts = [(p.n, p.base_passed if base else p.passed) for p in self.problems.values()]
        if not counts:
            return {}
        n_min = min(n for n, _ in counts)
        return {f"pass@{k}": round(100 * mean_pass_at_k(counts, k), 2) for k in KS if k <= n_min}

    def coverage(self) -> dict[str, Any]:
        """Problems scored of those that can be (the benchmark's, less excluded references)."""
        scorable = max(self.total, len(self.problems)) - len(self.known_bad_references)
        return {"scored": len(self.problems), "problems": scorable,
                "excluded": len(self.known_bad_references),
                "complete": len(self.problems) >= scorable}

    def to_dict(self) -> dict[str, Any]:
        plus = self.benchmark in ("humaneval+", "mbpp+")
        return {"benchmark": self.benchmark, "dataset": self.dataset,
                "problems_scored": len(self.problems), "coverage": self.coverage(),
                "scores": self.pass_at(), **({"base_scores": self.pass_at(base=True)} if plus else {}),
                "known_bad_references": self.known_bad_references, "wall_s": self.wall_s,
                "settings": self.settings, "samples_identity": self.identity,
                "per_problem": {tid: vars(p) for tid, p in sorted(self.problems.items(), key=_order)}}


def _order(item: tuple[str, ProblemResult]) -> tuple:
    head, _, tail = item[0].rpartition("/")
    return (head, int(tail)) if tail.isdigit() else (item[0], 0)


def write_results(path: Path, results: list[BenchmarkResult], run: dict[str, Any]) -> None:
    """Atomically write the results file (tmp + rename)."""
    payload = {"format": FORMAT, "run": run, "benchmarks": {r.benchmark: r.to_dict() for r in results}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, ensure_ascii=False))
    os.replace(tmp, path)


def read_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    target = Path(path)
    if target.is_dir():
        target = target / "results.json"
    data = json.loads(target.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{target}: not a selfalign results file (expected format {FORMAT!r})")
    return data
