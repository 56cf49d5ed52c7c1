"""Parsers for model outputs: pure functions from text to fields, or a drop reason.

Each returns either the parsed value or a ``Drop`` with a short stable reason, so the funnel can say
exactly why an output was lost. They are tested on literal strings (good, truncated, malformed).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL | re.IGNORECASE)
ASSERT = re.compile(r"^\s*assert\b", re.MULTILINE)
MAX_CONCEPTS = 12
MAX_CONCEPT_WORDS = 8


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
    text = text.strip()
    if not text:
        return Drop("empty")
    if len(text.split()) < min_words:
        return Drop("too_short", text[:200])
    return text


def code_blocks(text: str) -> list[tuple[int, str]]:
    """(start offset, code) of every closed fenced block."""
    return [(m.start(), m.group(1)) for m in FENCE.finditer(text)]


def _block_after(blocks: list[tuple[int, str]], text: str, marker: str) -> str | None:
    at = text.find(marker)
    if at < 0:
        return None
    return next((code for start, code in blocks if start > at), None)


def parse_response(text: str) -> ParsedResponse | Drop:
    """Split an answer into solution and tests (see the pool's response format)."""
    blocks = code_blocks(text)
    if not blocks:
        return Drop("no_code")
    solution = _block_after(blocks, text, "Solution:") or blocks[0][1]
    tests = _block_after(blocks, text, "Tests:")
    if tests is None or tests == solution:
        later = [code for _, code in blocks if code is not solution and ASSERT.search(code)]
        tests = later[-1] if later else None
    if tests is None or not ASSERT.search(tests):
        return Drop("no_tests")
    for name, code in (("solution", solution), ("tests", tests)):
        try:
            ast.parse(code)
        except SyntaxError as exc:
            return Drop(f"{name}_syntax_error", f"line {exc.lineno}: {exc.msg}")
    return ParsedResponse(solution=solution.strip("\n"), tests=tests.strip("\n"))


def strip_tests(response: str) -> str:
    """The training response: everything before the ``Tests:`` section (the answer without its tests)."""
    at = response.find("\nTests:")
    return (response[:at] if at >= 0 else response).rstrip()
