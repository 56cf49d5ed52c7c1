"""Sanitizing a chosen answer: placeholder code, the tests section, assertion augmentation.

* ``placeholder(response, code)``: answers that are not finished code -- ``TODO``, "your code
  here", or a function whose body is only ``pass``, ``...`` or ``raise NotImplementedError``
  (abstract methods, overloads, Protocol members and base methods a subclass overrides are
  legitimate and kept).
* ``training_response``: the answer without its tests section (every header style
  ``generate.parse`` accepts, or a trailing block of asserts), unless the instruction asks for
  tests -- then the tests are part of the answer.
* ``augment``: with probability p, drawn per row from a seeded RNG, 1..max of the solution's
  passing top-level asserts appended to the instruction as "Your code should pass these
  assertions:", the MBPP prompt style, so the model learns to honour given asserts.

The trade-off: all three are text rules tuned on the pool's answer format and the failure modes
seen in real runs, not a semantic judgement; each is tested on literal answers.
"""

from __future__ import annotations

import ast
import builtins
import random
import re

from selfalign.curate.collect import parse
from selfalign.curate.tests_strength import solution_names
from selfalign.generate.parse import strip_tests

PLACEHOLDER = "placeholder"
# TODO/FIXME are markers only in capitals ("a todo list" is a topic); the phrases in any case.
_PLACEHOLDER_TEXT = re.compile(r"\bTODO\b|\bFIXME\b|(?i:your code (?:goes )?here|implement (?:this|me)\b|"
                               r"\bfill (?:this )?in\b)")
_ASKS_FOR_TESTS = re.compile(
    r"\b(?:write|include|add|provide|create|implement|with|and|also)\b[^.\n]{0,60}?"
    r"\b(?:unit[ -]?tests?|test[ -]?cases?|tests|test suite|test functions?|assertions|asserts|"
    r"pytest|unittest)\b", re.IGNORECASE)
_MAYBE_EMPTY = re.compile(r"\bpass\b|\.\.\.|NotImplementedError")
_EXEMPT_DECORATORS = {"abstractmethod", "overload", "abstractproperty"}
_BUILTINS = set(dir(builtins))
AUGMENT_HEADER = "Your code should pass these assertions:"
MAX_ASSERT_CHARS = 200


def asks_for_tests(instruction: str) -> bool:
    """Does the instruction ask for tests as part of the answer ("... and unit tests")?"""
    return bool(_ASKS_FOR_TESTS.search(instruction))


def training_response(response: str, instruction: str, strip: bool = True) -> str:
    """The answer as the model will be trained to write it."""
    if not strip or asks_for_tests(instruction):
        return response.strip()
    return strip_tests(response)


def placeholder(response: str, code: str) -> str | None:
    """Why the answer is unfinished (a detail for the drop), or None."""
    hit = _PLACEHOLDER_TEXT.search(response) or _PLACEHOLDER_TEXT.search(code)
    if hit:
        return f"contains {hit.group(0)!r}"
    if not _MAYBE_EMPTY.search(code):
        return None                       # no pass / ... / NotImplementedError: nothing to parse
    try:
        tree = parse(code)
    except SyntaxError:
        return None
    overridden = _overridden_methods(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and not _is_protocol(node):
            for fn in node.body:
                if _empty_function(fn) and fn.name not in overridden.get(node.name, set()):
                    return f"{node.name}.{fn.name} has an empty body"
    for node in tree.body:
        if _empty_function(node):
            return f"{node.name} has an empty body"
    return None


def _empty_function(node: ast.stmt) -> bool:
    """A function whose body is only (a docstring and) pass, ``...`` or raise NotImplementedError."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    if any(_name(d) in _EXEMPT_DECORATORS for d in node.decorator_list):
        return False
    body = node.body[1:] if _is_docstring(node.body[0]) and len(node.body) > 1 else node.body
    return len(body) == 1 and _is_stub_statement(body[0])


def _is_stub_statement(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and stmt.value.value is Ellipsis:
        return True
    return isinstance(stmt, ast.Raise) and stmt.exc is not None and _name(stmt.exc) == "NotImplementedError"


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _name(node: ast.AST) -> str:
    """The last name of a (called) dotted expression: ``abc.abstractmethod`` -> abstractmethod."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _is_protocol(cls: ast.ClassDef) -> bool:
    return any(_name(b) in ("Protocol", "ABC") for b in cls.bases) or any(
        isinstance(k.value, ast.Name) and k.value.id == "ABCMeta" for k in cls.keywords)


def _overridden_methods(tree: ast.Module) -> dict[str, set[str]]:
    """Base class name -> its methods that a subclass in the same code defines again."""
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    out: dict[str, set[str]] = {}
    for cls in classes:
        own = {f.name for f in cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for base in cls.bases:
            out.setdefault(_name(base), set()).update(own)
    return out


# ---- assertion augmentation -------------------------------------------------------------------
def passing_asserts(code: str, tests: str) -> list[str]:
    """Top-level one-line asserts of the tests that use only the solution's names and builtins
    (so they stand alone under the instruction), in order."""
    try:
        solution, tree = parse(code), parse(tests)
    except SyntaxError:
        return []
    defined = solution_names(solution)
    known = _BUILTINS | defined.functions | defined.classes | defined.variables
    lines = tests.splitlines()
    out = []
    for node in tree.body:
        if not isinstance(node, ast.Assert) or node.lineno != node.end_lineno:
            continue
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        text = lines[node.lineno - 1].strip()
        if names <= known and names - _BUILTINS and len(text) <= MAX_ASSERT_CHARS and text.startswith("assert"):
            out.append(text)
    return out


def augment(instruction: str, asserts: list[str], p: float, most: int, key: str) -> tuple[str, int]:
    """(instruction, number of asserts appended): with probability ``p`` (drawn from an RNG
    seeded by ``key``), 1..``most`` of ``asserts`` appended in their original order."""
    rng = random.Random(key)
    if not asserts or p <= 0 or rng.random() >= p:
        return instruction, 0
    k = rng.randint(1, min(most, len(asserts)))
    chosen = sorted(rng.sample(range(len(asserts)), k))
    block = "\n".join(asserts[i] for i in chosen)
    return f"{instruction.rstrip()}\n\n{AUGMENT_HEADER}\n```python\n{block}\n```", k
