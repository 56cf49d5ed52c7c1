"""Parsers for model outputs: pure functions from text to fields, or a drop reason.

Each returns either the parsed value or a ``Drop`` with a short stable reason, so the funnel can say
exactly why an output was lost. They are tested on literal strings (good, truncated, malformed).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL | re.IGNORECASE)
# Test code in any style the execution harness runs (``selfalign.curate.collect``): asserts,
# unittest's self.assert*, pytest.raises, test functions and test classes.
TEST_CODE = re.compile(r"^\s*assert\b|\.assert\w*\(|\bpytest\.raises\b|^\s*def test|^\s*class Test",
                       re.MULTILINE)
MAX_CONCEPTS = 12
MAX_CONCEPT_WORDS = 8
# A chat answer may repeat the label its few-shot examples put before the answer in the
# completion format ("Concepts: a, b"); the label is not part of the answer.
_LABEL = r"^[ \t]*(?:\*\*|__)?{}(?:\*\*|__)?[ \t]*:[ \t]*(?:\*\*|__)?[ \t]*"
CONCEPTS_LABEL = re.compile(_LABEL.format("concepts"), re.IGNORECASE)
INSTRUCTION_LABEL = re.compile(_LABEL.format("instruction"), re.IGNORECASE)


@dataclass(frozen=True)
class Drop:
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class ParsedResponse:
    solution: str
    tests: str


def parse_concepts(text: str) -> list[str] | Drop:
    line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    line = CONCEPTS_LABEL.sub("", line, count=1)
    items, seen = [], set()
    for raw in line.split(","):
        item = raw.strip().strip(".").strip()
        if item and item.lower() not in seen and len(item.split()) <= MAX_CONCEPT_WORDS:
            seen.add(item.lower())
            items.append(item)
    if not items:
        return Drop("no_concepts", line[:200])
    return items[:MAX_CONCEPTS]


def parse_instruction(text: str, min_words: int = 8) -> str | Drop:
    text = INSTRUCTION_LABEL.sub("", text.strip(), count=1).strip()
    if not text:
        return Drop("empty")
    if len(text.split()) < min_words:
        return Drop("too_short", text[:200])
    return text


def _header(names: str) -> re.Pattern[str]:
    """A line that is only a section title, in any markdown dress: ``Tests:``, ``**Tests:**``,
    ``**Tests**:``, ``### Tests``, ``## Test cases``, ``__Unit tests__``."""
    return re.compile(rf"^[ \t]*(?:#{{1,6}}[ \t]*)?(?:\*\*|__|\*|_)?[ \t]*(?:{names})[ \t]*:?[ \t]*"
                      rf"(?:\*\*|__|\*|_)?[ \t]*:?[ \t]*$", re.IGNORECASE | re.MULTILINE)


TESTS_HEADER = _header(r"(?:example[ \t]+|unit[ \t]+)?tests?(?:[ \t]+cases?|[ \t]+code)?|testing|assertions?")
SOLUTION_HEADER = _header(r"solution|implementation|code")
_INTRO = re.compile(r"(?:^|\n)([^\n]*\b(?:tests?|assert\w*|check|verify|examples?)\b[^\n]*:)[ \t]*\n\s*$",
                    re.IGNORECASE)


@dataclass(frozen=True)
class _Block:
    start: int
    end: int
    code: str


def _blocks(text: str) -> list[_Block]:
    return [_Block(m.start(), m.end(), m.group(1)) for m in FENCE.finditer(text)]


def _headers(pattern: re.Pattern[str], text: str, blocks: list[_Block]) -> list[int]:
    """Offsets of header lines outside code blocks (a ``# Tests`` comment in code is no title)."""
    return [m.start() for m in pattern.finditer(text)
            if not any(b.start <= m.start() < b.end for b in blocks)]


def _solution_block(text: str, blocks: list[_Block]) -> int:
    """Index of the solution: the first block after a solution header, else the first block."""
    for at in _headers(SOLUTION_HEADER, text, blocks):
        following = [i for i, b in enumerate(blocks) if b.start > at]
        if following:
            return following[0]
    return 0


def locate_tests(text: str) -> tuple[int, str] | None:
    """(offset where the tests section starts, its code): the first block after a tests header
    (``Tests:``, ``**Tests:**``, ``### Tests``, ``Test cases:``...) that is not the solution,
    else the last later block holding test code (with the line that introduces it, such as
    "Here are some tests:"). ``parse_response`` takes its tests and ``strip_tests`` cuts here."""
    blocks = _blocks(text)
    if not blocks:
        return None
    solution = _solution_block(text, blocks)
    for at in _headers(TESTS_HEADER, text, blocks):
        following = [i for i, b in enumerate(blocks) if b.start > at]
        if at > blocks[solution].start and following and following[0] != solution:
            return at, blocks[following[0]].code
    later = [b for i, b in enumerate(blocks) if i > solution and TEST_CODE.search(b.code)]
    if not later:
        return None
    start = later[-1].start
    intro = _INTRO.search(text, 0, start)
    if intro and intro.end() == start and intro.start(1) > blocks[solution].end:
        start = intro.start(1)
    return start, later[-1].code


def parse_response(text: str) -> ParsedResponse | Drop:
    """Split an answer into solution and tests (see the pool's response format)."""
    blocks = _blocks(text)
    if not blocks:
        return Drop("no_code")
    solution = blocks[_solution_block(text, blocks)].code
    section = locate_tests(text)
    tests = section[1] if section else None
    if tests is None:
        others = len(blocks) - 1
        return Drop("no_tests", f"{len(blocks)} code block{'s' if len(blocks) != 1 else ''}: the "
                    "solution" + (f" and {others} without assert, def test_ or a Test class"
                                  if others else ", and no block of tests after it"))
    if not TEST_CODE.search(tests):
        return Drop("no_tests", "the block under the tests header has no assert, def test_ or Test class")
    for name, code in (("solution", solution), ("tests", tests)):
        try:
            ast.parse(code)
        except SyntaxError as exc:
            return Drop(f"{name}_syntax_error", f"line {exc.lineno}: {exc.msg}")
    return ParsedResponse(solution=solution.strip("\n"), tests=tests.strip("\n"))


def strip_tests(response: str) -> str:
    """The training response: everything before the tests section (see ``locate_tests``)."""
    section = locate_tests(response)
    return (response[:section[0]] if section else response).rstrip()
