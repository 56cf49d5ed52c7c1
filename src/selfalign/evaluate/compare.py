"""Two evaluation runs side by side (before vs after self-alignment), with per-problem flips.

A flip is a problem whose pass rate went from 0 to > 0 (fixed) or from > 0 to 0 (broken)
between run A and run B. Only benchmarks present in both runs are compared; when the dataset
hashes differ the comparison is still shown but flagged, since the numbers are not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class BenchmarkComparison:
    benchmark: str
    scores_a: dict[str, float]
    scores_b: dict[str, float]
    fixed: list[str] = field(default_factory=list)     # failed in A, passed in B
    broken: list[str] = field(default_factory=list)    # passed in A, failed in B
    same_data: bool = True


def _solved(per_problem: dict[str, Any]) -> dict[str, bool]:
    return {tid: row["passed"] > 0 for tid, row in per_problem.items()}


def bench_scores(bench: dict[str, Any]) -> dict[str, float]:
    """A results file's benchmark entry as one dict of scores; the base tests' prefixed ``base``."""
    scores = dict(bench.get("scores", {}))
    for key, value in bench.get("base_scores", {}).items():
        scores[f"base {key}"] = value
    return scores


def compare_results(a: dict[str, Any], b: dict[str, Any]) -> list[BenchmarkComparison]:
    """Per shared benchmark: both runs' scores and the problems that flipped."""
    out = []
    for name, bench_a in a["benchmarks"].items():
        bench_b = b["benchmarks"].get(name)
        if bench_b is None:
            continue
        solved_a, solved_b = _solved(bench_a["per_problem"]), _solved(bench_b["per_problem"])
        shared = [tid for tid in solved_a if tid in solved_b]
        out.append(BenchmarkComparison(
            name, bench_scores(bench_a), bench_scores(bench_b),
            fixed=[t for t in shared if solved_b[t] and not solved_a[t]],
            broken=[t for t in shared if solved_a[t] and not solved_b[t]],
            same_data=bench_a["dataset"].get("sha256") == bench_b["dataset"].get("sha256")))
    return out
