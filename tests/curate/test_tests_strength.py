"""Do the tests mean something? The AST checks and the stub, on literal solutions and tests."""

from __future__ import annotations

import ast

import pytest

from selfalign.curate.tests_strength import (NO_CALL, NO_RUNNING_ASSERT, REDEFINES_SOLUTION, SYNTAX_ERROR,
                                             analyze, count_asserts, stub, weakness)

SOLUTION = "def area(w, h):\n    return w * h\n\n\nclass Box:\n    def __init__(self, w):\n        self.w = w\n\n    def volume(self):\n        return self.w ** 3\n"


def reason(tests: str, collected: bool = True, solution: str = SOLUTION) -> str | None:
    found = weakness(analyze(solution, tests, collected))
    return found[0] if found else None


@pytest.mark.parametrize("tests", [
    "assert area(2, 3) == 6",
    "for w in range(3):\n    assert area(w, 1) == w",
    "def check(w):\n    assert area(w, 2) == 2 * w\n\ncheck(4)",
    "if __name__ == '__main__':\n    assert Box(2).volume() == 8",
    "import pytest\nwith pytest.raises(TypeError):\n    area('a', 'b')",
    "if area(1, 1) != 1:\n    raise AssertionError('wrong')",
    "checks = [lambda: area(1, 2) == 2]\nassert all(c() for c in checks)",
])
def test_running_assertions_that_call_the_solution_are_kept(tests):
    assert reason(tests) is None


@pytest.mark.parametrize("tests, expected", [
    ("assert True", NO_RUNNING_ASSERT),
    ("assert 1 == 1, 'always'", NO_RUNNING_ASSERT),
    ("print(area(1, 2))", NO_RUNNING_ASSERT),
    ("def test_area():\n    assert area(2, 3) == 6\n", None),                 # collected: it runs
    ("assert area is not None", NO_CALL),
    ("assert area", NO_CALL),
    ("assert callable(area)", NO_CALL),
    ("x = 3\nassert x == 3", NO_CALL),
    ("def area(w, h):\n    assert area(1, 1) == 1\n", REDEFINES_SOLUTION),  # the vacuous pass
    ("class Box:\n    pass\nassert Box() is not None", REDEFINES_SOLUTION),
    ("from math import prod as area\nassert area([2, 3]) == 6", REDEFINES_SOLUTION),
    ("assert area(1, 1) ==", SYNTAX_ERROR),
])
def test_weak_tests_get_their_reason(tests, expected):
    assert reason(tests) == expected


def test_an_assert_in_a_never_called_function_does_not_run():
    never_called = "def check_area():\n    assert area(2, 3) == 6\n"
    assert reason(never_called) == NO_RUNNING_ASSERT
    test_function = "def test_area():\n    assert area(2, 3) == 6\n"
    assert reason(test_function, collected=False) == NO_RUNNING_ASSERT   # as a plain program
    assert reason(test_function, collected=True) is None                 # collected and run


def test_test_classes_count_only_when_run():
    pytest_style = "class TestBox:\n    def test_volume(self):\n        assert Box(2).volume() == 8\n"
    unittest_style = ("import unittest\n\nclass BoxTest(unittest.TestCase):\n    def test_volume(self):\n"
                      "        self.assertEqual(Box(2).volume(), 8)\n\nif __name__ == '__main__':\n    unittest.main()\n")
    for tests in (pytest_style, unittest_style):
        assert reason(tests, collected=False) == NO_RUNNING_ASSERT
        assert reason(tests, collected=True) is None
    with_fixture = "class TestBox:\n    def test_volume(self, tmp_path):\n        assert Box(2).volume() == 8\n"
    assert reason(with_fixture) == NO_RUNNING_ASSERT        # needs a fixture: not collected, not run


def test_methods_run_when_their_class_is_used():
    helper = ("class Checker:\n    def __init__(self):\n        self.n = 0\n    def run(self):\n"
              "        assert area(1, 2) == 2\n    def unused(self):\n        assert area(9, 9) == 0\n"
              "Checker().run()\n")
    report = analyze(SOLUTION, helper)
    assert report.asserts == 1 and report.calls_solution


def test_assert_count_is_of_running_asserts():
    tests = ("assert area(1, 1) == 1\nassert area(2, 1) == 2\nassert True\n"
             "def never():\n    assert area(3, 3) == 9\n")
    assert count_asserts(SOLUTION, tests) == 2
    assert analyze(SOLUTION, tests).trivial == 1


def test_stub_keeps_classes_and_imports_and_empties_bodies():
    solution = ("import math\nfrom dataclasses import dataclass\n\nLIMIT = 10\nTABLE = [math.pi * k for k in range(3)]\n\n"
                "@dataclass\nclass Point:\n    x: int\n    y: int = 0\n    def norm(self):\n        return math.hypot(self.x, self.y)\n\n"
                "def helper(v):\n    '''Doc.'''\n    return v * 2\n\nif __name__ == '__main__':\n    print(helper(3))\n")
    stubbed = stub(solution)
    tree = ast.parse(stubbed)
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert names == {"Point", "helper"}
    assert "import math" in stubbed and "LIMIT = 10" in stubbed and "TABLE = None" in stubbed
    assert "print" not in stubbed and "hypot" not in stubbed
    namespace: dict = {}
    exec(compile(stubbed, "<stub>", "exec"), namespace)
    assert namespace["helper"](3) is None
    assert namespace["Point"](1, 2).norm() is None and namespace["Point"](1, 2).y == 2
    assert stub("def broken(:\n") is None
