"""The original MBPP, from google-research's ``mbpp.jsonl`` or ``sanitized-mbpp.json``.

``mbpp.jsonl`` holds all 974 problems; only task ids 11-510 are the test split, which is what we
load by default (``split="all"`` returns every problem, which is what decontamination wants).
The sanitized file is a hand-checked subset with rewritten prompts; its ``test_imports`` become
setup code. Either way ``test`` is the asserts, run after the candidate's code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from selfalign.benchmarks.problem import BenchmarkError, Problem, need, read_jsonl, resolve

MBPP_FILES = ("mbpp.jsonl", "sanitized-mbpp.json")
TEST_SPLIT = range(11, 511)


def _entry_point(code: str, test_list: list[str], where: str) -> str:
    """The function the asserts call: the first called name that the solution defines."""
    defined = re.findall(r"^def\s+(\w+)", code, re.M)
    called = [m.group(1) for line in test_list for m in re.finditer(r"([A-Za-z_]\w*)\s*\(", line)]
    for name in called:
        if name in defined:
            return name
    if defined:
        return defined[0]
    raise BenchmarkError(f"{where}: cannot find the function the tests call")


def _problem(row: dict[str, Any], where: str, text_key: str, setup: str) -> Problem:
    test_list = need(row, "test_list", where, list)
    task_id = need(row, "task_id", where, int)
    return Problem(
        benchmark="mbpp", task_id=f"Mbpp/{task_id}", prompt=need(row, text_key, where),
        canonical_solution=need(row, "code", where).replace("\r\n", "\n"),
        entry_point=_entry_point(need(row, "code", where), test_list, where),
        test="\n".join(test_list) + "\n",
        meta={"test_list": test_list, "setup": setup,
              "challenge_test_list": row.get("challenge_test_list", [])})


def _rows(file: Path) -> list[tuple[str, dict[str, Any]]]:
    if file.suffix == ".json":
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"{file}: invalid JSON: {exc}") from None
        if not isinstance(data, list):
            raise BenchmarkError(f"{file}: expected a JSON array of problems")
        return [(f"{file}[{i}]", row) for i, row in enumerate(data)]
    return [(f"{file}:{lineno}", row) for lineno, row in read_jsonl(file)]


def load_mbpp(path: str | None = None, split: str = "test") -> tuple[list[Problem], Path]:
    file = resolve(path, MBPP_FILES, "mbpp")
    problems = []
    for where, row in _rows(file):
        if "prompt" in row:     # sanitized format
            setup = "\n".join(need(row, "test_imports", where, list))
            problem = _problem(row, where, "prompt", setup)
        else:
            problem = _problem(row, where, "text", row.get("test_setup_code", "") or "")
        if split == "all" or int(problem.task_id.split("/")[1]) in TEST_SPLIT:
            problems.append(problem)
    return problems, file
