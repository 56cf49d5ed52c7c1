"""Batched static type check of seed snippets with basedpyright (or pyright).

Starting the checker costs about a second (a Node.js process loading typeshed), checking a small
function costs milliseconds, so snippets are written as one file each into a temporary directory
and a whole batch is checked by one invocation. basedpyright is preferred because its PyPI wheel
carries its own Node.js and needs no download at first use; the ``pyright`` PyPI wrapper works
too where ``node`` is installed or npm is reachable.

Most failures in real corpora are names the function takes from its module (helpers, constants)
that a stand-alone seed does not carry. ``undefined_names`` finds those with one ``ast`` walk --
a name read but bound nowhere in the snippet and not a builtin, which pyright reports as an
error too -- so such snippets skip the checker; that saves most of its cost on a typical corpus.

Settings: "standard" checking mode with unresolved imports ignored, because whether a third-party
package happens to be installed here says nothing about the snippet. The trade-off: a snippet
using a missing package is checked less thoroughly (its names are ``Unknown``), not dropped.
``TypeCheck`` is the seeds stage's filter: ``typecheck:error`` with the first three messages.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from selfalign.quality.filters import Drop, Filter, Item

_CONFIG = {
    "typeCheckingMode": "standard",
    "pythonVersion": "3.11",
    "reportMissingImports": "none",
    "reportMissingModuleSource": "none",
}


# Names every module (and method body) has without binding them.
_IMPLICIT = set(dir(builtins)) | {"__name__", "__file__", "__doc__", "__spec__", "__loader__",
                                  "__package__", "__builtins__", "__path__", "__class__", "__annotations__"}


_IGNORE_COMMENT = re.compile(r"#\s*(type|pyright)\s*:\s*ignore")


def undefined_names(snippet: str) -> list[str]:
    """Names the snippet reads but binds nowhere (not as argument, assignment target, import,
    def/class, global/nonlocal, except or match name) and that are not builtins. Scope-blind
    on purpose: it only flags what no scope defines, so pyright would flag it as well."""
    if _IGNORE_COMMENT.search(snippet):
        return []                               # suppressed errors: leave the verdict to pyright
    try:
        tree = ast.parse(snippet)
    except (SyntaxError, ValueError):
        return []                               # the checker reports it, with its own message
    bound, loads = set(_IMPLICIT), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                return []                       # a star import may bind anything
            bound.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
    return sorted(loads - bound)


class TypeCheckError(RuntimeError):
    """The checker is missing or failed as a whole (not: a snippet has type errors)."""


def find_checker() -> list[str]:
    """Command prefix of the first checker found, preferring this interpreter's own environment."""
    bin_dir = Path(sys.executable).parent
    for name in ("basedpyright", "pyright"):
        local = bin_dir / name
        found = str(local) if local.exists() else shutil.which(name)
        if found:
            return [found]
    raise TypeCheckError("the seed type check needs basedpyright: pip install basedpyright "
                         "(or set seeds.typecheck = false)")


def type_errors(snippets: Sequence[str], timeout: float = 900.0) -> list[list[str]]:
    """For each snippet, the messages of its type errors (an empty list means it type-checks)."""
    errors = [[f'"{name}" is not defined' for name in undefined_names(s)] for s in snippets]
    rest = [i for i, e in enumerate(errors) if not e]
    for i, found in zip(rest, _run_checker([snippets[i] for i in rest], timeout)):
        errors[i] = found
    return errors


def _run_checker(snippets: Sequence[str], timeout: float) -> list[list[str]]:
    if not snippets:
        return []
    command = find_checker()
    with tempfile.TemporaryDirectory(prefix="selfalign-typecheck-") as tmp:
        root = Path(tmp)
        (root / "pyrightconfig.json").write_text(json.dumps(_CONFIG))
        for i, snippet in enumerate(snippets):
            (root / f"s{i}.py").write_text(snippet, encoding="utf-8", errors="surrogatepass")
        try:
            run = subprocess.run(command + ["--outputjson", "-p", str(root)], cwd=root,
                                 capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TypeCheckError(f"type checker timed out after {timeout:.0f}s on {len(snippets)} snippets") from None
        return _parse_report(run, root, len(snippets))


def _parse_report(run: subprocess.CompletedProcess, root: Path, count: int) -> list[list[str]]:
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise TypeCheckError(f"type checker failed (exit {run.returncode}): "
                             f"{(run.stderr or run.stdout).decode(errors='replace')[-500:]}") from None
    errors: list[list[str]] = [[] for _ in range(count)]
    for diag in report.get("generalDiagnostics", []):
        if diag.get("severity") != "error":
            continue
        name = Path(diag.get("file", "")).name
        if name.startswith("s") and name.endswith(".py") and name[1:-3].isdigit():
            line = diag.get("range", {}).get("start", {}).get("line", 0) + 1
            errors[int(name[1:-3])].append(f"line {line}: {diag.get('message', '')[:200]}")
    return errors


class TypeCheck(Filter[Item]):
    """Drops snippets with type errors, checking ``batch_size`` of them per checker start."""

    name = "typecheck"

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def decide(self, items: Sequence[Item]) -> list[Drop | None]:
        found = type_errors([item.text for item in items])
        return [Drop("typecheck:error", "; ".join(errors[:3])) if errors else None for errors in found]
