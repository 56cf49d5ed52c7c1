import pytest

from selfalign.generate.parse import (Drop, ParsedResponse, parse_concepts, parse_instruction,
                                      parse_response, strip_tests)

GOOD = '''Reasoning: Walk the list once and keep a running maximum.

Solution:
```python
def running_max(xs):
    out, best = [], None
    for x in xs:
        best = x if best is None else max(best, x)
        out.append(best)
    return out
```

Tests:
```python
assert running_max([]) == []
assert running_max([3, 1, 4]) == [3, 3, 4]
```'''


def test_good_response_splits_solution_and_tests():
    parsed = parse_response(GOOD)
    assert isinstance(parsed, ParsedResponse)
    assert parsed.solution.startswith("def running_max(xs):") and parsed.solution.endswith("return out")
    assert parsed.tests.splitlines() == ["assert running_max([]) == []",
                                         "assert running_max([3, 1, 4]) == [3, 3, 4]"]


def test_truncated_response_has_no_closed_test_block():
    cut = GOOD[: GOOD.index("assert running_max([3")]
    assert parse_response(cut) == Drop("no_tests", "1 code block: the solution, and no block of tests after it")


def test_no_code_and_no_asserts():
    assert parse_response("I would loop over the list.") == Drop("no_code")
    only_code = "```python\ndef f():\n    return 1\n```\n\n```python\nprint(f())\n```"
    assert parse_response(only_code) == Drop(
        "no_tests", "2 code blocks: the solution and 1 without assert, def test_ or a Test class")
    headed = "```python\ndef f():\n    return 1\n```\n\nTests:\n```python\nprint(f())\n```"
    assert parse_response(headed) == Drop(
        "no_tests", "the block under the tests header has no assert, def test_ or Test class")


def test_unmarked_blocks_fall_back_to_first_and_last_with_asserts():
    text = "Here:\n```py\ndef f(x):\n    return x * 2\n```\nCheck:\n```\nassert f(2) == 4\n```"
    assert parse_response(text) == ParsedResponse("def f(x):\n    return x * 2", "assert f(2) == 4")


def test_syntax_errors_are_dropped_with_the_line():
    bad = GOOD.replace("out, best = [], None", "out, best = [], None)")
    result = parse_response(bad)
    assert isinstance(result, Drop) and result.reason == "solution_syntax_error"
    assert result.detail.startswith("line 2")


def test_concepts_first_line_deduplicated():
    assert parse_concepts(" recursion, memoization, Recursion, dict lookup.\nSnippet: junk") == \
        ["recursion", "memoization", "dict lookup"]
    assert parse_concepts("\n ,  , \n").reason == "no_concepts"
    long = "a very long phrase that goes on and on for many words indeed, sorting"
    assert parse_concepts(long) == ["sorting"]


def test_instruction_empty_or_too_short():
    assert parse_instruction("   ") == Drop("empty")
    assert parse_instruction("Write code.").reason == "too_short"
    text = "Write a function `merge(a, b)` that merges two sorted lists into one sorted list."
    assert parse_instruction(f"\n{text}\n") == text


def test_strip_tests_keeps_reasoning_and_solution():
    stripped = strip_tests(GOOD)
    assert "Solution:" in stripped and "assert" not in stripped and stripped.endswith("```")
    assert strip_tests("no tests section") == "no tests section"


SOLUTION_BLOCK = "Reasoning: double it.\n\nSolution:\n```python\ndef double(x):\n    return 2 * x\n```\n"
TESTS_BLOCK = "```python\nassert double(2) == 4\n```\n"


@pytest.mark.parametrize("header", ["Tests:", "**Tests:**", "**Tests**:", "### Tests", "## Tests", "# Tests:",
                                    "Test cases:", "### Test Cases", "Unit tests:", "__Tests__"])
def test_every_tests_header_style_splits_and_strips(header):
    text = f"{SOLUTION_BLOCK}\n{header}\n{TESTS_BLOCK}"
    assert parse_response(text) == ParsedResponse("def double(x):\n    return 2 * x", "assert double(2) == 4")
    assert strip_tests(text) == SOLUTION_BLOCK.rstrip()


def test_a_trailing_block_of_asserts_is_cut_with_its_intro_line():
    text = f"{SOLUTION_BLOCK}\nHere are some tests to check it:\n{TESTS_BLOCK}"
    assert parse_response(text).tests == "assert double(2) == 4"
    assert strip_tests(text) == SOLUTION_BLOCK.rstrip()
    no_intro = f"{SOLUTION_BLOCK}\n{TESTS_BLOCK}"
    assert strip_tests(no_intro) == SOLUTION_BLOCK.rstrip()


def test_a_tests_comment_inside_the_solution_is_no_header():
    text = ("Solution:\n```python\n# Tests\ndef double(x):\n    return 2 * x\n```\n\n"
            "Tests:\n```python\nassert double(1) == 2\n```")
    assert parse_response(text).solution.startswith("# Tests\ndef double")
    assert strip_tests(text).endswith("return 2 * x\n```")


def test_unittest_and_pytest_style_tests_are_tests():
    unittest_style = ("import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n"
                      "        self.assertEqual(double(2), 4)")
    text = f"{SOLUTION_BLOCK}\n### Tests\n```python\n{unittest_style}\n```"
    assert parse_response(text).tests == unittest_style
    pytest_style = "def test_double():\n    assert double(2) == 4"
    assert parse_response(f"{SOLUTION_BLOCK}\n```python\n{pytest_style}\n```").tests == pytest_style
