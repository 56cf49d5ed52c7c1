"""pytest- and unittest-style tests are collected and run as pytest would, in the real sandbox."""

from __future__ import annotations

import pytest

from selfalign.curate.collect import collect_tests, collection_plan, parse
from selfalign.sandbox import Limits, Program, Sandbox

SOLUTION = "def double(x):\n    return 2 * x\n"
PYTEST_FUNCTIONS = ("import pytest\n\ndef test_small():\n    assert double(2) == 4\n\n"
                    "@pytest.mark.parametrize('x, want', [(1, 2), (3, 6), pytest.param(5, 10)])\n"
                    "def test_many(x, want):\n    assert double(x) == want\n\n"
                    "def test_needs_fixture(tmp_path):\n    assert False\n\n"
                    "@pytest.mark.skip(reason='later')\ndef test_skipped():\n    assert False\n")
PYTEST_CLASS = ("class TestDouble:\n    def setup_method(self, method):\n        self.base = 3\n\n"
                "    def test_base(self):\n        assert double(self.base) == 6\n\n"
                "    def helper(self):\n        assert False\n")
UNITTEST = ("import unittest\n\nclass DoubleTest(unittest.TestCase):\n    def setUp(self):\n        self.value = 3\n\n"
            "    def test_value(self):\n        self.assertEqual(double(self.value), 6)\n\n"
            "if __name__ == '__main__':\n    unittest.main()\n")


def test_plan_lists_what_pytest_would_run():
    plan = collection_plan(parse(PYTEST_FUNCTIONS + PYTEST_CLASS + UNITTEST))
    assert plan.functions == ("test_small", "test_many")
    assert plan.classes == (("TestDouble", ("test_base",)),)
    assert plan.cases == ("DoubleTest",)
    assert len(plan.runner_calls) == 1


def test_plain_asserts_and_already_called_tests_are_left_alone():
    asserts = "assert double(2) == 4\n"
    assert collect_tests(asserts) == asserts
    called = "def test_it():\n    assert double(1) == 2\n\ntest_it()\n"
    assert collect_tests(called) == called
    assert collect_tests("def broken(:\n") == "def broken(:\n"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(Limits(timeout_s=5.0, memory_mb=1024), workers=2) as box:
        yield box


def _run(sandbox, solution: str, tests: str):
    (_, result), = sandbox.run([Program("p", solution, tests)])
    return result


@pytest.mark.parametrize("tests", [PYTEST_FUNCTIONS, PYTEST_CLASS, UNITTEST])
def test_collected_tests_run_and_judge(sandbox, tests):
    assert _run(sandbox, SOLUTION, collect_tests(tests)).status == "pass"
    wrong = "def double(x):\n    return 2 * x + (x == 3)\n"        # wrong for x = 3 only
    result = _run(sandbox, wrong, collect_tests(tests))
    assert result.status == "fail" and result.error_type == "AssertionError"


def test_unittest_main_alone_fails_and_collected_it_passes(sandbox):
    assert _run(sandbox, SOLUTION, UNITTEST).status == "fail"     # SystemExit from unittest.main()
    assert _run(sandbox, SOLUTION, collect_tests(UNITTEST)).status == "pass"


def test_uncollected_test_functions_pass_vacuously_and_collected_they_fail(sandbox):
    tests = "def test_wrong():\n    assert double(2) == 5\n"
    assert _run(sandbox, SOLUTION, tests).status == "pass"        # never called: a vacuous pass
    assert _run(sandbox, SOLUTION, collect_tests(tests)).status == "fail"
