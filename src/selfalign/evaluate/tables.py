"""Rich tables for evaluation results and comparisons (what ``selfalign eval`` prints).

Trade-off: rendering lives beside the result types rather than in the CLI so notebooks and
reports can print the same tables; the library still returns plain data everywhere else.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from selfalign.evaluate.compare import BenchmarkComparison
from selfalign.evaluate.results import BenchmarkResult


def results_table(results: list[BenchmarkResult]) -> Table:
    table = Table(title="selfalign eval")
    for column in ("benchmark", "scores", "coverage", "base scores", "time (gen/ref/score s)",
                   "dataset"):
        table.add_column(column)
    for r in results:
        base = r.pass_at(base=True) if r.benchmark in ("humaneval+", "mbpp+") else {}
        times = "/".join(f"{r.wall_s.get(k, 0):.0f}" for k in ("generate", "reference", "score"))
        table.add_row(r.benchmark, _fmt(r.pass_at()), coverage_text(r), _fmt(base), times,
                      r.dataset.get("version", "?"))
    return table


def coverage_text(result: BenchmarkResult) -> str:
    """'164/164', or '120/164 partial'; excluded problems are named in a warning below."""
    cover = result.coverage()
    text = f"{cover['scored']}/{cover['problems']}"
    return text if cover["complete"] else f"{text} partial"


def _fmt(scores: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.1f}" for k, v in scores.items()) or "-"


def print_results(results: list[BenchmarkResult], path: Path, console: Console | None = None) -> None:
    console = console or Console()
    console.print(results_table(results))
    for r in results:
        excluded = ", ".join(sorted(r.known_bad_references))
        if excluded:
            console.print(f"[yellow]warning: {r.benchmark}: excluded from the score, their "
                          f"reference solution fails its own tests: {excluded}[/yellow]")
        cover = r.coverage()
        if not cover["complete"]:
            console.print(f"[yellow]warning: {r.benchmark}: partial sample file: pass@k is over "
                          f"{cover['scored']} of {cover['problems']} problems, not the benchmark's "
                          "score[/yellow]")
    console.print(f"results: {path}")


def print_comparison(rows: list[BenchmarkComparison], a: str, b: str, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"A = {a}   B = {b}")
    for column in ("benchmark", "metric", "A", "B", "B - A", "fixed", "broken"):
        table.add_column(column)
    for row in rows:
        for i, metric in enumerate(sorted(set(row.scores_a) | set(row.scores_b))):
            va, vb = row.scores_a.get(metric), row.scores_b.get(metric)
            delta = f"{vb - va:+.1f}" if va is not None and vb is not None else "-"
            name = row.benchmark + ("" if row.same_data else " (different data!)")
            table.add_row(name if i == 0 else "", metric, _num(va), _num(vb), delta,
                          str(len(row.fixed)) if i == 0 else "", str(len(row.broken)) if i == 0 else "")
    console.print(table)
    for row in rows:
        if row.fixed or row.broken:
            console.print(f"{row.benchmark}: fixed {', '.join(row.fixed) or '-'}; "
                          f"broken {', '.join(row.broken) or '-'}")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
