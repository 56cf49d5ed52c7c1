"""DS-1000 and LiveCodeBench scoring on small fixtures in their upstream formats."""

from __future__ import annotations

import gzip
import json
import pickle
import base64
import zlib

import pytest

from selfalign.benchmarks import dataset_info, load
from selfalign.evaluate.samples import Sample
from selfalign.evaluate.config import ScoreConfig
from selfalign.evaluate.score import Scorer

DS1000_CONTEXT = '''
import numpy as np
def generate_test_case(test_case_id):
    a = np.arange(4) + test_case_id
    return a, a * 2

exec_context = r"""
import numpy as np
a = test_input
[insert]
"""

def test_execution(solution: str):
    code = exec_context.replace("[insert]", solution)
    for i in range(2):
        test_input, expected = generate_test_case(i + 1)
        env = {"test_input": test_input}
        exec(code, env)
        np.testing.assert_array_equal(env["result"], expected)

def test_string(solution: str):
    assert "for" not in solution, "loops are not allowed"
'''


def run(name, path, codes, tmp_path):
    problems = load(name, str(path))
    scorer = Scorer(name, problems, dataset_info(name, str(path))["sha256"],
                    ScoreConfig(workers=2, cache_dir=str(tmp_path / "cache"), test_timeout_s=2.0))
    samples = [Sample(p.task_id, i, code) for p in problems for i, code in enumerate(codes)]
    return list(scorer.run(samples))


def test_ds1000_runs_the_code_context_harness(tmp_path):
    pytest.importorskip("numpy")
    row = {"prompt": "Double a.\n<code>\n", "reference_code": "result = a * 2\n",
           "code_context": DS1000_CONTEXT,
           "metadata": {"problem_id": 7, "library": "Numpy", "test_case_cnt": 2}}
    path = tmp_path / "ds1000.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps(row) + "\n")
    loop_code = "result = np.array([x * 2 for x in a])\n"
    verdicts = run("ds1000", path, ["result = a * 2\n", "result = a + 2\n", loop_code], tmp_path)
    assert [v.passed for v in verdicts] == [True, False, False]
    assert "loops are not allowed" in verdicts[2].failure["detail"]


def lcb_rows() -> list[dict]:
    stdin_public = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    stdin_private = [{"input": "10 -4\n", "output": "6\n", "testtype": "stdin"}]
    functional = [{"input": "[1, 2, 3]\n2", "output": "[3, 4, 5]", "testtype": "functional"}]
    encoded = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(stdin_private)))).decode()
    return [
        {"question_title": "sum", "question_content": "Print a+b.", "platform": "atcoder",
         "question_id": "abc1_a", "contest_id": "abc1", "contest_date": "2024-03-02T00:00:00",
         "starter_code": "", "difficulty": "easy", "public_test_cases": json.dumps(stdin_public),
         "private_test_cases": encoded, "metadata": "{}"},
        {"question_title": "add", "question_content": "Add k to each.", "platform": "leetcode",
         "question_id": "lc9", "contest_id": "w1", "contest_date": "2024-03-03T00:00:00",
         "starter_code": "class Solution:\n    def addAll(self, nums, k):\n        ",
         "difficulty": "easy", "public_test_cases": json.dumps(functional),
         "private_test_cases": "[]", "metadata": json.dumps({"func_name": "addAll"})}]


def test_livecodebench_stdin_and_functional_programs(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lcb_rows()))
    stdin_ok = "a, b = map(int, input().split())\nprint(a + b)\n"
    stdin_public_only = "import sys\nprint(3)\n"
    stdin_loops = "while True:\n    pass\n"
    verdicts = run("livecodebench", path, [stdin_ok, stdin_public_only, stdin_loops], tmp_path)
    first = [v for v in verdicts if v.task_id == "abc1_a"]
    assert [v.passed for v in first] == [True, False, False]
    assert first[1].failure["index"] == 1 and first[2].failure["reason"] == "timeout"
    solution = "class Solution:\n    def addAll(self, nums, k):\n        return [n + k for n in nums]\n"
    wrong = "class Solution:\n    def addAll(self, nums, k):\n        return nums\n"
    verdicts = run("livecodebench", path, [solution, wrong], tmp_path)
    second = [v.passed for v in verdicts if v.task_id == "lc9"]
    assert second == [True, False]
