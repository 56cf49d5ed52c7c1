"""Sanitizing on literal answers: placeholders, the tests section, assertion augmentation."""

from __future__ import annotations

import pytest

from selfalign.curate.sanitize import (AUGMENT_HEADER, asks_for_tests, augment, passing_asserts, placeholder,
                                       training_response)

ANSWER = ("Reasoning: sum the list.\n\nSolution:\n```python\ndef total(xs):\n    return sum(xs)\n```\n\n"
          "**Tests:**\n```python\nassert total([1, 2]) == 3\n```")


@pytest.mark.parametrize("code, why", [
    ("def total(xs):\n    raise NotImplementedError\n", "total has an empty body"),
    ("def total(xs):\n    '''Sum.'''\n    raise NotImplementedError('later')\n", "total has an empty body"),
    ("def total(xs):\n    pass\n", "total has an empty body"),
    ("def total(xs):\n    ...\n", "total has an empty body"),
    ("class Bag:\n    def total(self):\n        pass\n", "Bag.total has an empty body"),
    ("def total(xs):\n    # TODO: handle None\n    return sum(xs)\n", "contains 'TODO'"),
    ("def total(xs):\n    # your code here\n    return 0\n", "contains 'your code here'"),
])
def test_placeholders_are_found(code, why):
    assert placeholder("Solution below.", code) == why


@pytest.mark.parametrize("code", [
    "def total(xs):\n    return sum(xs)\n",
    "from abc import ABC, abstractmethod\nclass Shape(ABC):\n    @abstractmethod\n    def area(self):\n        pass\n",
    "from typing import Protocol\nclass Sized(Protocol):\n    def size(self) -> int:\n        ...\n",
    "class Shape:\n    def area(self):\n        raise NotImplementedError\nclass Square(Shape):\n"
    "    def area(self):\n        return 4\n",
    "class Empty(Exception):\n    pass\n",
    "def add_todo(todo_list, item):\n    return todo_list + [item]\n",
])
def test_finished_code_is_not_a_placeholder(code):
    assert placeholder("A todo list app, finished.", code) is None


def test_tests_are_stripped_unless_the_instruction_asks_for_them():
    assert training_response(ANSWER, "Write total(xs).") == ANSWER[:ANSWER.index("**Tests:**")].rstrip()
    asks = "Write total(xs) and include unit tests for it."
    assert asks_for_tests(asks) and training_response(ANSWER, asks) == ANSWER
    assert not asks_for_tests("Write a function to test whether a number is prime.")
    assert training_response(ANSWER, "Write total(xs).", strip=False) == ANSWER


def test_passing_asserts_stand_alone():
    code = "def total(xs):\n    return sum(xs)\n"
    tests = ("import math\nresult = total([1])\nassert result == 1\nassert total([1, 2]) == 3\n"
             "assert total([]) == 0, 'empty'\nassert math.isclose(total([0.5]), 0.5)\n"
             "assert (total([1, 1])\n        == 2)\n")
    assert passing_asserts(code, tests) == ["assert total([1, 2]) == 3", "assert total([]) == 0, 'empty'"]


def test_augmentation_is_seeded_and_bounded():
    asserts = [f"assert total([{i}]) == {i}" for i in range(8)]
    results = [augment("Write total(xs).", asserts, 0.5, 5, f"augment/0/row{i}") for i in range(200)]
    counts = [k for _, k in results]
    assert 70 < sum(k > 0 for k in counts) < 130 and max(counts) == 5
    text, k = next(r for r in results if r[1] > 0)
    assert text.startswith(f"Write total(xs).\n\n{AUGMENT_HEADER}\n```python\nassert total(")
    assert text.count("\nassert ") == k
    assert augment("Write total(xs).", asserts, 0.5, 5, "augment/0/row1") == results[1]
    assert augment("Write total(xs).", asserts, 0.0, 5, "k") == ("Write total(xs).", 0)
    assert augment("Write total(xs).", [], 1.0, 5, "k") == ("Write total(xs).", 0)
