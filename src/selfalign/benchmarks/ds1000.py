"""DS-1000 (xlang-ai) from its released ``ds1000.jsonl(.gz)``: 1000 data-science problems.

Each record's ``code_context`` defines ``test_execution(solution)`` (and sometimes
``test_string(solution)``) that runs the candidate against the problem's hidden cases; scoring
builds a program from it. DS-1000 is not shipped here, so the loader only reads a path the user
gives (or ``ds1000.jsonl.gz`` in the benchmark directory).
"""

from __future__ import annotations

from pathlib import Path

from selfalign.benchmarks.problem import Problem, need, read_jsonl, resolve

DS1000_FILES = ("ds1000.jsonl.gz", "ds1000.jsonl")


def load_ds1000(path: str | None = None, library: str | None = None) -> tuple[list[Problem], Path]:
    file = resolve(path, DS1000_FILES, "ds1000")
    problems = []
    for lineno, row in read_jsonl(file):
        where = f"{file}:{lineno}"
        meta = need(row, "metadata", where, dict)
        if library is not None and meta.get("library", "").lower() != library.lower():
            continue
        problem_id = need(meta, "problem_id", f"{where} metadata", (int, str))
        problems.append(Problem(
            benchmark="ds1000", task_id=f"DS1000/{problem_id}", prompt=need(row, "prompt", where),
            canonical_solution=need(row, "reference_code", where),
            test=need(row, "code_context", where), meta=dict(meta)))
    return problems, file
