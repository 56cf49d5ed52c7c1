"""Collect pytest- and unittest-style tests and run them as pytest would, as plain source text.

Models often answer with ``def test_...`` functions, ``class TestX`` or a ``unittest.TestCase``
and never call them: run as a program, such tests pass without running an assertion (or fail
on ``unittest.main()``'s ``SystemExit``). ``collect_tests(tests)`` returns the tests with a small
runner appended that calls what pytest would collect: every top-level ``test*`` function (its
``pytest.mark.parametrize`` cases expanded), every ``test*`` method of every ``Test*`` class on a
fresh instance (with ``setup_method``/``setUp`` and their teardowns), and every ``TestCase``
subclass through ``unittest``, a failure raised as an ``AssertionError``; ``unittest.main()`` and
``pytest.main()`` statements become ``pass``. Tests with nothing to collect come back unchanged.

The trade-off: collection is static (the names are listed in the runner), so a test that needs
a fixture, is skipped or is built dynamically is not run -- and ``collection_plan`` lets the strength
analysis (``tests_strength``) count exactly what the runner will run. pytest itself is never
needed unless the tests import it.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass

RUNNER_NAME = "_selfalign_run_collected"
SKIPPING_DECORATORS = {"skip", "skipif", "xfail", "fixture", "usefixtures"}
CASE_BASES = {"TestCase", "IsolatedAsyncioTestCase"}
RUNNER_CALLS = {"unittest.main", "pytest.main"}
CLASS_HOOKS = ("setup_method", "teardown_method", "setUp", "tearDown", "setup_class", "teardown_class")
CASE_HOOKS = ("setUp", "tearDown", "setUpClass", "tearDownClass", "asyncSetUp", "asyncTearDown")

RUNNER = '''

# --- appended by selfalign: run the collected tests as pytest would ---
def {name}(functions, classes, cases):
    import inspect
    import unittest

    def cases_of(fn):
        sets = [{{}}]
        for mark in getattr(fn, "pytestmark", []):
            if getattr(mark, "name", "") != "parametrize":
                continue
            names, values = mark.args[0], mark.args[1]
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
            rows = [tuple(v.values) if type(v).__name__ == "ParameterSet"
                    else (tuple(v) if len(names) > 1 else (v,)) for v in values]
            sets = [{{**s, **dict(zip(names, row))}} for s in sets for row in rows]
        return sets

    def hook(obj, name, *args):
        fn = getattr(obj, name, None)
        if fn is not None:
            fn(*args[:len(inspect.signature(fn).parameters)])

    for name in functions:
        for kwargs in cases_of(globals()[name]):
            globals()[name](**kwargs)
    for name, methods in classes:
        cls = globals()[name]
        hook(cls, "setup_class")
        for method in methods:
            for kwargs in cases_of(getattr(cls, method)):
                obj = cls()
                hook(obj, "setup_method", getattr(obj, method))
                hook(obj, "setUp")
                getattr(obj, method)(**kwargs)
                hook(obj, "tearDown")
                hook(obj, "teardown_method", getattr(obj, method))
        hook(cls, "teardown_class")
    for name in cases:
        result = unittest.TestResult()
        unittest.defaultTestLoader.loadTestsFromTestCase(globals()[name]).run(result)
        for test, trace in result.failures + result.errors:
            raise AssertionError(f"{{test.id()}} failed:\\n{{trace}}")


{name}({functions!r}, {classes!r}, {cases!r})
'''


@dataclass(frozen=True)
class CollectPlan:
    """What the runner calls: test functions, (Test* class, its test methods), TestCase
    subclasses; and the ``unittest.main()``/``pytest.main()`` statements it neutralises."""

    functions: tuple[str, ...] = ()
    classes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    cases: tuple[str, ...] = ()
    runner_calls: tuple[ast.stmt, ...] = ()

    @property
    def collects(self) -> bool:
        return bool(self.functions or self.classes or self.cases)


def parse(source: str) -> ast.Module:
    """``ast.parse`` without the warnings model code triggers (invalid escapes such as "\\d");
    raises SyntaxError (also for null bytes, which ast reports as ValueError)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(source)
    except ValueError as exc:
        raise SyntaxError(str(exc)) from None


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain (the callee of a decorator call too), else ''."""
    if isinstance(node, ast.Call):
        return dotted(node.func)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def parametrized_names(fn: ast.FunctionDef) -> set[str]:
    """Argument names supplied by ``@pytest.mark.parametrize("a, b", ...)`` decorators."""
    names: set[str] = set()
    for deco in fn.decorator_list:
        if isinstance(deco, ast.Call) and dotted(deco).endswith("parametrize") and deco.args:
            first = deco.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names |= {n.strip() for n in first.value.split(",")}
            elif isinstance(first, (ast.List, ast.Tuple)):
                names |= {e.value for e in first.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return names


def _callable_without_fixtures(fn: ast.FunctionDef, method: bool) -> bool:
    args = fn.args
    positional = args.posonlyargs + args.args
    required = [a.arg for a in positional[: len(positional) - len(args.defaults)]]
    required += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    if method and required:
        required = required[1:]           # self
    return set(required) <= parametrized_names(fn)


def _is_test(node: ast.stmt, method: bool = False) -> bool:
    return (isinstance(node, ast.FunctionDef) and node.name.startswith("test")
            and not any(dotted(d).rsplit(".", 1)[-1] in SKIPPING_DECORATORS for d in node.decorator_list)
            and _callable_without_fixtures(node, method))


def case_classes(body: list[ast.stmt]) -> dict[str, ast.ClassDef]:
    """TestCase subclasses, directly or through an earlier class of the same file."""
    cases: dict[str, ast.ClassDef] = {}
    for node in body:
        if isinstance(node, ast.ClassDef) and any(
                dotted(b).rsplit(".", 1)[-1] in CASE_BASES or dotted(b) in cases for b in node.bases):
            cases[node.name] = node
    return cases


def case_methods(cls: ast.ClassDef, cases: dict[str, ast.ClassDef]) -> list[ast.FunctionDef]:
    """The methods unittest runs for a TestCase: test* and hooks, inherited ones included."""
    found = [n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
             and (n.name.startswith("test") or n.name in CASE_HOOKS)]
    for base in cls.bases:
        if dotted(base) in cases and cases[dotted(base)] is not cls:
            found += case_methods(cases[dotted(base)], cases)
    return found


def _module_level_names(body: list[ast.stmt]) -> set[str]:
    """Names loaded by module-level code (not inside function or class bodies)."""
    names: set[str] = set()
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    stack: list[ast.AST] = [n for n in body if not isinstance(n, scopes)]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            names.add(node.id)
        stack.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, (*scopes, ast.Lambda)))
    return names


def _runner_calls(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level statements (also under a top-level ``if``) calling unittest/pytest.main."""
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            found += _runner_calls(node.body) + _runner_calls(node.orelse)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and any(
                isinstance(c, ast.Call) and dotted(c.func) in RUNNER_CALLS for c in ast.walk(node)):
            found.append(node)
    return found


def collection_plan(tree: ast.Module, runner_calls: bool = True) -> CollectPlan:
    """What pytest would collect from a parsed tests module, minus functions it already calls;
    ``runner_calls=False`` skips looking for ``unittest.main()`` (the strength analysis)."""
    found = _runner_calls(tree.body) if runner_calls else []
    if not any(isinstance(n, ast.ClassDef) or (isinstance(n, ast.FunctionDef) and n.name.startswith("test"))
               for n in tree.body):
        return CollectPlan(runner_calls=tuple(found))      # plain asserts: the common case, fast
    tests = [n for n in tree.body if _is_test(n)]
    called = _module_level_names(tree.body) if tests else set()
    cases = case_classes(tree.body)
    functions = tuple(n.name for n in tests if n.name not in called)
    classes = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test") and node.name not in cases:
            if any(isinstance(n, ast.FunctionDef) and n.name == "__init__" for n in node.body):
                continue                  # pytest does not collect classes with __init__
            methods = tuple(n.name for n in node.body if _is_test(n, method=True))
            if methods:
                classes.append((node.name, methods))
    runnable = tuple(name for name, cls in cases.items()
                     if any(m.name.startswith("test") for m in case_methods(cls, cases)))
    return CollectPlan(functions, tuple(classes), runnable, tuple(found))



def _neutralise(source: str, statements: tuple[ast.stmt, ...]) -> str:
    """Replace each statement's exact span by ``pass`` (offsets are UTF-8 bytes, as ast gives)."""
    lines = [line.encode("utf-8") for line in source.splitlines(keepends=True)]
    for node in sorted(statements, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        head, tail = lines[first][:node.col_offset], lines[last][node.end_col_offset or 0:]
        lines[first:last + 1] = [head + b"pass" + tail]
    return b"".join(lines).decode("utf-8")


def collect_tests(tests: str) -> str:
    """The tests plus a runner for what pytest would collect; unchanged if there is nothing
    to collect or the tests do not parse (the sandbox reports the syntax error)."""
    try:
        tree = parse(tests)
    except SyntaxError:
        return tests
    plan = collection_plan(tree)
    if not plan.collects and not plan.runner_calls:
        return tests
    text = _neutralise(tests, plan.runner_calls) if plan.runner_calls else tests
    if not plan.collects:
        return text
    runner = RUNNER.format(name=RUNNER_NAME, functions=list(plan.functions),
                           classes=[[c, list(m)] for c, m in plan.classes], cases=list(plan.cases))
    return text.rstrip("\n") + "\n" + runner
