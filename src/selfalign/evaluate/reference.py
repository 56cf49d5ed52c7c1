"""Run each problem's reference solution once in the sandbox and cache what scoring needs.

EvalPlus benchmarks: the expected output of every input (typed JSON, or the digest of a big one),
the reference's time per input, from which per-test limits are derived, and whether some output
is a sequence of strings (``seeded``: its order may follow the string-hash seed, so the reference
always runs with PYTHONHASHSEED=0 and such a problem's candidates do too). The expected outputs
stay in the host: no candidate's program ever holds them. Assert benchmarks (HumanEval, MBPP): the
time the reference takes to pass its own tests, both processes together. Timing the reference *on
this machine* is what keeps a slow machine from turning correct code into timeouts.
Trade-off: the cache is keyed by data hash, runner source and host name, so a new machine or a new
runner pays the reference run once (about a minute for HumanEval+, several for MBPP+ on 2 cores).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Callable

from selfalign.benchmarks import Problem
from selfalign.evaluate.programs import (check_program, parse_failure, parse_reference,
                                         reference_program, runtime_source)
from selfalign.sandbox import Limits, Sandbox

EVALPLUS = ("humaneval+", "mbpp+")
CHECKED = ("humaneval", "mbpp")


def default_cache_dir() -> Path:
    return Path(os.environ.get("SELFALIGN_CACHE_DIR", Path.home() / ".cache" / "selfalign"))


def cache_file(benchmark: str, dataset_sha: str, cache_dir: Path) -> Path:
    salt = hashlib.sha256((runtime_source() + platform.node() + sys.version).encode()).hexdigest()[:10]
    name = benchmark.replace("+", "plus")
    return cache_dir / "reference" / f"{name}-{dataset_sha[:16]}-{salt}.json"


def _program(problem: Problem):
    if problem.benchmark in EVALPLUS:
        return reference_program(problem, problem.task_id)
    return check_program(problem, problem.reference_program, problem.task_id, 60.0, timed=True)


def _entry(problem: Problem, result) -> dict:
    """EvalPlus programs run under PYTHONHASHSEED=0 end without the sandbox's pass record: what
    they printed is the result. Assert programs must pass their own tests."""
    record = parse_reference(result.stdout_tail)
    if problem.benchmark in EVALPLUS:
        rows, seeded = (record["rows"], record["seeded"]) if isinstance(record, dict) else (None, False)
    else:
        rows, seeded = (record if result.status == "pass" else None), False
    if rows is None:
        failure = parse_failure(result.error)
        return {"ok": False, "times": [], "expected": [], "error": f"{result.status}: {failure}"}
    errors = [i for i, row in enumerate(rows) if "error" in row]
    return {"ok": not errors, "times": [row["t"] for row in rows], "seeded": seeded,
            "expected": [{k: v for k, v in row.items() if k != "t"} for row in rows],
            "error": f"reference raises on inputs {errors[:10]}" if errors else ""}


def reference_data(benchmark: str, problems: list[Problem], dataset_sha: str, workers: int | None,
                   cache_dir: Path | None = None, memory_mb: int = 4096,
                   progress: Callable[[int], None] | None = None) -> dict[str, dict]:
    """task_id -> {ok, times, expected, error}, from the cache or a fresh sandboxed run."""
    path = cache_file(benchmark, dataset_sha, cache_dir or default_cache_dir())
    cached: dict[str, dict] = json.loads(path.read_text()) if path.exists() else {}
    todo = [p for p in problems if p.task_id not in cached and p.canonical_solution]
    if progress and len(problems) > len(todo):
        progress(len(problems) - len(todo))      # cached, or nothing to run
    if todo:
        limits = Limits(timeout_s=600.0, memory_mb=memory_mb, output_tail_bytes=64 << 20)
        with Sandbox(limits, workers=workers) as sandbox:
            for (program, result), problem in zip(sandbox.run(_program(p) for p in todo), todo):
                cached[problem.task_id] = _entry(problem, result)
                if progress:
                    progress(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        # failed runs are not cached: a transient failure (memory, a killed worker) must not
        # mark a problem bad forever; truly bad references are cheap to rerun.
        tmp.write_text(json.dumps({tid: ref for tid, ref in cached.items() if ref["ok"]}))
        tmp.replace(path)
    return cached
