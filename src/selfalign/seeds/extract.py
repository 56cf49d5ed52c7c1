"""Extraction: one Python file's bytes -> candidate seed functions, with the stdlib ``ast``.

A candidate is a top-level function (optionally a method of a top-level class) with a docstring.
Its text is made self-contained by prepending the module's top-level imports that the function
actually uses, so the type check and the banned-import filter see what the code needs, and the
model later sees a snippet that would run. The trade-off: functions that call module-level
helpers are kept as they are and fail the type check (an undefined name) rather than being
stitched together with their helpers; seeds are meant to stand alone.

Every failure is a ``Dropped`` with a stable reason: ``file:binary``, ``file:not_utf8``,
``file:syntax_error``, ``file:parse_error``, ``extract:no_docstring``.
"""

from __future__ import annotations

import ast
import re
import textwrap
import warnings
from dataclasses import dataclass, field
from typing import Iterator

from selfalign.records import Dropped

from .sources import SourceFile


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class Candidate:
    """A function found in a file, plus the facts the filters need (computed once, here)."""

    name: str
    content: str
    source: str
    path: str
    start_line: int
    end_line: int
    license: str | None
    n_args: int
    valued_return: bool
    imports: list[str]             # top-level modules the snippet imports
    meta: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        """What the quality filters read (``selfalign.quality.filters.Item``)."""
        return self.content

    @property
    def label(self) -> str:
        """Where the function is, as drop details name it: ``source:path:start_line``."""
        return f"{self.source}:{self.path}:{self.start_line}"

    @property
    def n_lines(self) -> int:
        """The function's span in its file, decorators included (not the prepended imports)."""
        return self.end_line - self.start_line + 1

    def describe(self) -> dict:
        """The small dict a Dropped record carries (no full text: the funnel stays light)."""
        return {"name": self.name, "source": self.source, "path": self.path,
                "start_line": self.start_line, "end_line": self.end_line}


def decode(file: SourceFile) -> str | Dropped:
    where = {"source": file.source, "path": file.path}
    if b"\0" in file.data[:65536]:
        return Dropped("file:binary", where, "NUL byte in the first 64 KiB")
    try:
        return file.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Dropped("file:not_utf8", where, str(exc)[:200])


def parse(file: SourceFile, text: str) -> ast.Module | Dropped:
    where = {"source": file.source, "path": file.path}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # invalid escape sequences etc. are not our business
            return ast.parse(text, filename=file.path)
    except SyntaxError as exc:
        return Dropped("file:syntax_error", where, f"line {exc.lineno}: {exc.msg}")
    except (ValueError, RecursionError, MemoryError) as exc:
        return Dropped("file:parse_error", where, f"{type(exc).__name__}: {str(exc)[:200]}")


def extract(file: SourceFile, include_methods: bool = False) -> Iterator[Candidate | Dropped]:
    text = decode(file)
    if isinstance(text, Dropped):
        yield text
        return
    tree = parse(file, text)
    if isinstance(tree, Dropped):
        yield tree
        return
    lines = _LINE_BREAK.split(text)   # not splitlines(): ast counts only \n, \r\n and \r
    imports = _top_level_imports(tree)
    for node, is_method in _functions(tree, include_methods):
        if not ast.get_docstring(node):
            yield Dropped("extract:no_docstring", {"name": node.name, "source": file.source,
                                                   "path": file.path, "start_line": node.lineno})
            continue
        yield _candidate(file, node, is_method, lines, imports)


def _functions(tree: ast.Module, include_methods: bool) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node, False
        elif include_methods and isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield item, True


def _top_level_imports(tree: ast.Module) -> dict[str, ast.stmt]:
    """Bound name -> a one-alias import statement that binds it."""
    bound: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.split(".")[0]] = ast.Import(names=[alias])
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                if alias.name != "*":
                    bound[alias.asname or alias.name] = ast.ImportFrom(module=node.module, names=[alias],
                                                                       level=node.level)
    return bound


def _candidate(file: SourceFile, node: ast.FunctionDef | ast.AsyncFunctionDef, is_method: bool,
               lines: list[str], imports: dict[str, ast.stmt]) -> Candidate:
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    end = node.end_lineno or node.lineno
    body = textwrap.dedent("\n".join(line.rstrip() for line in lines[start - 1:end]))
    names, inner, valued_return = _scan(node)
    used = sorted(names & set(imports))
    header = [ast.unparse(imports[name]) for name in used]
    content = "\n".join(header) + ("\n\n\n" if header else "") + body + "\n"
    modules = [_module_of(imports[name]) for name in used] + inner
    args = node.args
    n_args = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs) + \
        (args.vararg is not None) + (args.kwarg is not None)
    if is_method and (args.posonlyargs or args.args) and (args.posonlyargs + args.args)[0].arg in ("self", "cls"):
        n_args -= 1
    return Candidate(name=node.name, content=content, source=file.source, path=file.path,
                     start_line=start, end_line=end, license=file.license, n_args=n_args,
                     valued_return=valued_return, imports=sorted(set(modules)),
                     meta={**file.meta, **({"method": True} if is_method else {})})


_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _scan(func: ast.AST) -> tuple[set[str], list[str], bool]:
    """One walk over a function: the names it reads, the modules it imports inside, and whether
    its own body (not a nested def/lambda/class) has a ``return <value>`` (not ``return None``)."""
    names: set[str] = set()
    modules: list[str] = []
    valued = False
    stack = [(child, False) for child in ast.iter_child_nodes(func)]
    while stack:
        node, nested = stack.pop()
        if isinstance(node, ast.Name):
            names.add(node.id)
            continue
        if isinstance(node, ast.Return) and not nested and node.value is not None:
            valued = valued or not (isinstance(node.value, ast.Constant) and node.value.value is None)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules += _imported_modules(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__" \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            modules.append(node.args[0].value.split(".")[0])
        inner = nested or isinstance(node, _NESTED)
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))
    return names, modules, valued


def _imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    return [_module_of(node)]


def _module_of(stmt: ast.stmt) -> str:
    if isinstance(stmt, ast.Import):
        return stmt.names[0].name.split(".")[0]
    assert isinstance(stmt, ast.ImportFrom)
    return "." * stmt.level + (stmt.module or "").split(".")[0]
