"""Do a response's tests mean something? Pure AST checks on the solution and tests texts.

A pass only counts when the tests (1) run at least one non-trivial assertion, (2) do not
redefine a function or class of the solution (shadowing it, so they test their own copy), and
(3) call the solution. ``analyze`` finds the code that runs by a reachability walk: module-level
code runs, a function's body runs once its name is used by running code, a class's dunder
methods once the class is used, a method once its name is used as an attribute; with
``collected=True`` the tests ``collect_tests`` runs are roots too. ``stub`` builds the solution
with every function body replaced by ``return None``, for the fourth check -- the tests must
fail against it -- which needs the sandbox (``stubcheck``).

The trade-off: the walk is name-based, not a type analysis, so it over-approximates (any
``x.name`` use makes every method ``name`` reachable); it never calls a used test unreachable,
which keeps false drops rare, and the stub run catches most vacuous tests it lets through.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from selfalign.curate.collect import (CLASS_HOOKS, case_classes, case_methods, collection_plan,
                                      dotted, parse)

NO_RUNNING_ASSERT = "tests:no_running_assert"
REDEFINES_SOLUTION = "tests:redefines_solution"
NO_CALL = "tests:no_call"
PASS_STUB = "tests:pass_stub"
SYNTAX_ERROR = "tests:syntax_error"
ASSERTION_CALLS = {"raises"}
WEAK_USES = {"callable", "hasattr"}
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class TestsReport:
    """What the tests do when run: assertions that run (constant-only ones apart), solution
    names they redefine, whether running code calls the solution."""

    __test__ = False   # a pytest-looking name, not a test class

    asserts: int = 0
    trivial: int = 0
    redefined: tuple[str, ...] = ()
    calls_solution: bool = False
    error: str = ""


def weakness(report: TestsReport) -> tuple[str, str] | None:
    """The drop reason and detail for weak tests, or None; the worst problem first."""
    if report.error:
        return SYNTAX_ERROR, report.error
    if report.redefined:
        return REDEFINES_SOLUTION, f"tests redefine {', '.join(report.redefined)}"
    if report.asserts == 0:
        extra = f" ({report.trivial} on constants only)" if report.trivial else ""
        return NO_RUNNING_ASSERT, f"no assertion runs{extra}"
    if not report.calls_solution:
        return NO_CALL, "running tests never call the solution"
    return None


def analyze(solution: str, tests: str, collected: bool = True) -> TestsReport:
    """Check ``tests`` against ``solution``; ``collected``: the tests ran through
    ``collect_tests`` (so collectable test functions and classes count as running)."""
    try:
        solution_tree = parse(solution)
    except SyntaxError as exc:
        return TestsReport(error=f"solution line {exc.lineno}: {exc.msg}")
    try:
        tree = parse(tests)
    except SyntaxError as exc:
        return TestsReport(error=f"tests line {exc.lineno}: {exc.msg}")
    defined = solution_names(solution_tree)
    walk = _Reachability(tree)
    walk.run(collected)
    callables = defined.functions | defined.classes
    uses_solution = bool(walk.used & callables) or bool(walk.loaded & defined.variables)
    return TestsReport(asserts=walk.asserts, trivial=walk.trivial,
                       redefined=tuple(sorted(bound_names(tree) & callables)),
                       calls_solution=uses_solution)


@dataclass
class SolutionNames:
    functions: set[str] = field(default_factory=set)
    classes: set[str] = field(default_factory=set)
    variables: set[str] = field(default_factory=set)


def solution_names(tree: ast.Module) -> SolutionNames:
    """Top-level functions, classes and assigned names (also inside top-level if/try/with)."""
    names = SolutionNames()
    for node in _top_level(tree.body):
        if isinstance(node, _DEFS):
            names.functions.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.classes.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.variables |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    names.variables -= names.functions | names.classes
    return names


def _top_level(body: list[ast.stmt]):
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, block, []):
                    yield from _top_level(child.body if isinstance(child, ast.ExceptHandler) else [child])


def bound_names(tree: ast.Module) -> set[str]:
    """Names the tests bind as functions or classes (any depth but class bodies: a method does
    not shadow), or at module level by assignment or import."""
    names: set[str] = set()
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, in_class = stack.pop()
        if isinstance(node, _SCOPES) and not in_class:
            names.add(node.name)
        for child in ast.iter_child_nodes(node):
            stack.append((child, isinstance(node, ast.ClassDef)))
    for node in _top_level(tree.body):
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


class _Reachability:
    """The walk: blocks of statements that run, the names and attributes they use, the
    assertions they hold."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.functions: dict[str, list[ast.AST]] = {}
        self.methods: dict[str, list[tuple[str, ast.AST]]] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        self._index(tree, None)
        self.loaded: set[str] = set()      # every Name load in running code
        self.used: set[str] = set()        # loads that are not weak (``f is not None``, ``assert f``)
        self.attrs: set[str] = set()
        self.asserts = self.trivial = 0
        self._done: set[int] = set()
        self._queue: list[list[ast.stmt]] = []

    def _index(self, node: ast.AST, owner: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _DEFS) and owner is not None:
                self.methods.setdefault(child.name, []).append((owner, child))
            elif isinstance(child, _DEFS):
                self.functions.setdefault(child.name, []).append(child)
            elif isinstance(child, ast.ClassDef):
                self.classes[child.name] = child
            self._index(child, child.name if isinstance(child, ast.ClassDef) else None)

    def run(self, collected: bool) -> None:
        self._enqueue(self.tree.body)
        if collected:
            self._add_collected_roots()
        used_classes: set[str] = set()
        while self._queue:
            while self._queue:
                self._visit_block(self._queue.pop())
            for name in list(self.loaded):
                for fn in self.functions.get(name, []):
                    self._enqueue(fn.body)
            used_classes |= self.loaded & set(self.classes)
            for name, owners in self.methods.items():
                for owner, fn in owners:
                    if owner in used_classes and (name in self.attrs or _dunder(name)):
                        self._enqueue(fn.body)

    def _add_collected_roots(self) -> None:
        plan = collection_plan(self.tree, runner_calls=False)
        for name in plan.functions:
            for fn in self.functions.get(name, []):
                self._enqueue(fn.body)
        top = {n.name: n for n in self.tree.body if isinstance(n, ast.ClassDef)}
        for name, methods in plan.classes:
            for node in top[name].body:
                if isinstance(node, _DEFS) and (node.name in methods or node.name in CLASS_HOOKS):
                    self._enqueue(node.body)
        cases = case_classes(self.tree.body)
        for name in plan.cases:
            for fn in case_methods(cases[name], cases):
                self._enqueue(fn.body)
        self.loaded |= set(plan.cases) | {c for c, _ in plan.classes}

    def _enqueue(self, block: list[ast.stmt]) -> None:
        if id(block) not in self._done:
            self._done.add(id(block))
            self._queue.append(block)

    def _visit_block(self, block: list[ast.stmt]) -> None:
        stack: list[ast.AST] = list(block)
        weak: set[int] = set()
        while stack:
            node = stack.pop()
            if isinstance(node, _DEFS):   # decorators and defaults run now, the body later
                stack += node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d]
                continue
            if isinstance(node, ast.ClassDef):  # the class body runs at definition
                stack += node.decorator_list + node.bases + [k.value for k in node.keywords] + node.body
                continue
            self._note(node, weak)
            stack.extend(ast.iter_child_nodes(node))

    def _note(self, node: ast.AST, weak: set[int]) -> None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            self.loaded.add(node.id)
            if id(node) not in weak:
                self.used.add(node.id)
        elif isinstance(node, ast.Attribute):
            self.attrs.add(node.attr)
        elif isinstance(node, ast.Assert):
            self._count([node.test])
            if isinstance(node.test, ast.Name):
                weak.add(id(node.test))
        elif isinstance(node, ast.Compare) and _is_none_check(node):
            weak.add(id(node.left))
        elif isinstance(node, ast.Call):
            name = dotted(node.func).rsplit(".", 1)[-1]
            if name in WEAK_USES:
                weak |= {id(a) for a in node.args}
            elif name == "fail":          # self.fail(...) / pytest.fail(...): an explicit failure
                self.asserts += 1
            elif name.startswith("assert") or name in ASSERTION_CALLS:
                self._count(list(node.args) + [k.value for k in node.keywords])
        elif isinstance(node, ast.Raise) and node.exc is not None and dotted(node.exc) == "AssertionError":
            self.asserts += 1

    def _count(self, operands: list[ast.expr]) -> None:
        if any(isinstance(n, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)) for op in operands
               for n in ast.walk(op)):
            self.asserts += 1
        else:
            self.trivial += 1


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _is_none_check(node: ast.Compare) -> bool:
    return (isinstance(node.left, ast.Name) and all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops)
            and all(isinstance(c, ast.Constant) and c.value is None for c in node.comparators))


def count_asserts(solution: str, tests: str, collected: bool = True) -> int:
    """Assertions in running test code (the "most asserts" preference)."""
    return analyze(solution, tests, collected).asserts


# ---- the stub ---------------------------------------------------------------------------------
class _Stubber(ast.NodeTransformer):
    """Function bodies -> ``return None``; module and class bodies keep imports, definitions
    and assignments (a computed value becomes None); other statements go."""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.body = [ast.Return(ast.Constant(None))]
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.body = self.block(node.body)
        return node

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = self.block(node.body)
        return node

    def block(self, body: list[ast.stmt]) -> list[ast.stmt]:
        kept: list[ast.stmt] = []
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Pass)) or _is_docstring(stmt):
                kept.append(stmt)
            elif isinstance(stmt, (*_DEFS, ast.ClassDef)):
                kept.append(self.visit(stmt))
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                kept.append(_literal_assignment(stmt))
            elif isinstance(stmt, ast.Try):
                kept += self.block(stmt.body)
        return kept or [ast.Pass()]


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _literal_assignment(stmt: ast.Assign | ast.AnnAssign) -> ast.stmt:
    """Keep a literal value (a constant, a dataclass field's annotation); a computed one is
    the solution's work, so the stub binds the name to None."""
    if stmt.value is None:
        return stmt
    try:
        ast.literal_eval(stmt.value)
        return stmt
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        stmt.value = ast.Constant(None)
        return stmt


def stub(solution: str) -> str | None:
    """The solution with every function and method body replaced by ``return None``, classes,
    imports and literal assignments kept; None if it does not parse."""
    try:
        tree = parse(solution)
    except SyntaxError:
        return None
    return ast.unparse(ast.fix_missing_locations(_Stubber().visit(tree))) + "\n"
