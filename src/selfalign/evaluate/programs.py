"""Build the sandboxed programs that score one sample against one problem, and read what they say.

A program is the in-sandbox runner (the parts of ``plain_data.py``, ``runtime.py`` and
``assert_runtime.py`` it needs, as source text) plus one call carrying the candidate's code and the problem's data as
string literals. One program per (problem, sample), however many tests the problem has: the runner
times each input itself, which is what makes ~750 HumanEval+ tests per sample cost one process.
What a program holds is chosen by who may see it: an EvalPlus program holds the inputs, never the
expected outputs (the host compares); an assert program's candidate gets only its own code.
Trade-off: the data is embedded in the program text (not shared between samples), which costs
parsing a few hundred KB per program but keeps every program self-contained and cacheable by
the sandbox's content-hash cache.
"""

from __future__ import annotations

import ast
import builtins
import json
import marshal
from functools import lru_cache
from pathlib import Path

from selfalign.benchmarks import Problem
from selfalign.evaluate.config import TimeLimits
from selfalign.evaluate.plain_data import encode
from selfalign.evaluate.runtime import LOAD_LIMIT_S, OUTPUTS_MARK, REFERENCE_MARK, wall_limit
from selfalign.sandbox import Program

RUNTIME_FILES = ("plain_data.py", "runtime.py", "assert_runtime.py")

# EvalPlus's task-specific oracles, keyed by entry point as EvalPlus keys them (facts about the
# datasets: these problems accept more than one right answer; see docs/evaluation.md). "set_eq":
# the task asks for a collection whose order the prompt leaves open (Mbpp/2, 7, 111, 140, 232,
# 579, 769; intersection_array is Mbpp/249, not in MBPP+ v0.2.0).
SET_EQ_ENTRIES = ("similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly",
                  "larg_nnum", "intersection_array", "find_dissimilar", "Diff")
ORACLES = {"humaneval+": {"find_zero": "find_zero"},
           "mbpp+": {"sum_div": "zero_ok", "check_str": "not_none",
                     "text_match_three": "not_none", "text_starta_endb": "not_none",
                     "surface_Area": "surface_area", "digit_distance_nums": "digit_distance",
                     **dict.fromkeys(SET_EQ_ENTRIES, "set_eq")}}


@lru_cache(maxsize=1)
def runtime_source() -> str:
    here = Path(__file__).parent
    return "\n".join((here / name).read_text(encoding="utf-8") for name in RUNTIME_FILES)


@lru_cache(maxsize=16)
def runtime_for(entry: str) -> str:
    """Only what ``entry`` needs: the definitions it reaches, without docstrings, and the imports
    and constants they use. Compiling the whole runner cost each program ~30 ms, more than running
    HumanEval's tests; an unused ``import signal`` costs a fresh interpreter ~3 ms.
    ``from selfalign ...`` imports are what the files share: dropped."""
    defs, others = {}, []
    for name in RUNTIME_FILES:
        tree = ast.parse((Path(__file__).parent / name).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defs[node.name] = node
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("selfalign"):
                continue
            elif not isinstance(node, ast.Expr):          # not a module docstring
                others.append(node)
    keep, todo = set(), [entry]
    while todo:
        name = todo.pop()
        if name in keep or name not in defs:
            continue
        keep.add(name)
        todo.extend(n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name))
    used = {n.id for name in keep for n in ast.walk(defs[name]) if isinstance(n, ast.Name)}
    body, seen = [], set()
    for node in others:
        text = ast.unparse(node)
        if text not in seen and _bound_names(text) & used:
            seen.add(text)
            body.append(node)
    for name in sorted(keep, key=list(defs).index):
        node = defs[name]
        if ast.get_docstring(node) is not None:
            node.body = node.body[1:] or [ast.Pass()]
        body.append(node)
    return ast.unparse(ast.Module(body=body, type_ignores=[]))


def _program(pid: str, entry: str, call: str, timeout_s: float) -> Program:
    return Program(id=pid, code=_text(entry, call), timeout_s=timeout_s)


def _text(entry: str, call: str) -> str:
    imports = "import json\n" if "json." in call else ""
    return runtime_for(entry) + "\n" + imports + "\n" + call + "\n"


def _seeded(pid: str, entry: str, call: str, timeout_s: float) -> Program:
    """The program run by a fresh interpreter with PYTHONHASHSEED=0 (runtime.launch_seeded)."""
    return _program(pid, "launch_seeded", f"launch_seeded({_text(entry, call)!r})", timeout_s)


def oracle_for(problem: Problem) -> str:
    return ORACLES.get(problem.benchmark, {}).get(problem.entry_point, "")


def all_inputs(problem: Problem) -> list:
    return problem.base_inputs + problem.plus_inputs


def reference_program(problem: Problem, pid: str) -> Program:
    """Canonical solution over all base + plus inputs: prints times and expected outputs. Always
    with the hash seed fixed: whether an output's order follows it is known only afterwards."""
    data = {"entry_point": problem.entry_point, "inputs": encode(all_inputs(problem), strict=False)}
    call = f"reference({problem.reference_program!r}, json.loads({json.dumps(data)!r}))"
    return _seeded(pid, "reference", call, timeout_s=600.0)


def inputs_program(problem: Problem, code: str, pid: str, reference: dict, limits: TimeLimits) -> Program:
    """The candidate on every input; what it returns goes to the host. ``reference`` is the
    problem's entry of reference.py: its times set the limits, the inputs where the reference
    itself fails are skipped, and ``seeded`` runs the candidate as the reference ran."""
    times = reference["times"]
    per_test = [limits.per_test(t) for t in times]
    skip = [i for i, row in enumerate(reference["expected"]) if "error" in row]
    data = {"entry_point": problem.entry_point, "inputs": encode(all_inputs(problem), strict=False),
            "limits": per_test, "skip": skip, "oracle": oracle_for(problem), "base": len(problem.base_inputs)}
    call = f"run_inputs({code!r}, json.loads({json.dumps(data)!r}))"
    build = _seeded if reference.get("seeded") else _program
    return build(pid, "run_inputs", call, limits.program(per_test, times))


def check_spec(problem: Problem) -> str:
    """What the test process of an assert benchmark runs (JSON): its trusted preamble (HumanEval's
    prompt, MBPP's setup imports), the test code, the setup that runs beside the candidate (MBPP),
    and the names the tests take from the candidate, which become ``Remote``."""
    if problem.benchmark == "humaneval":
        return _check_spec(problem.prompt, problem.test + f"\ncheck({problem.entry_point})\n", "",
                           problem.entry_point)
    return _check_spec("", problem.test, problem.meta.get("setup", ""), problem.entry_point)


@lru_cache(maxsize=1024)
def _check_spec(prompt: str, test: str, setup: str, entry_point: str) -> str:
    imports = [ast.unparse(n) for n in ast.parse(setup).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    preamble = prompt or "\n".join(imports)
    remote = sorted((_free_names(test) - _bound_names(preamble)) | {entry_point})
    return json.dumps({"preamble": preamble, "setup": setup, "test": test, "remote": remote})


def _bound_names(code: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _free_names(code: str) -> set[str]:
    """Names the code reads but never binds, builtins aside."""
    read = {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return read - _bound_names(code) - set(dir(builtins))


@lru_cache(maxsize=1)
def candidate_server() -> str:
    """What the candidate's fresh interpreter runs: the server compiled here, once (the sandbox
    runs this interpreter), as hex of its marshal: compiling it there cost every sample ~1-4 ms."""
    code = compile(runtime_for("serve_candidate") + "\nserve_candidate()\n", "<candidate-server>", "exec")
    return marshal.dumps(code).hex()


def check_program(problem: Problem, code: str, pid: str, limit_s: float, timed: bool = False) -> Program:
    """human-eval / MBPP: the benchmark's tests in the sandboxed test process, the candidate in
    a process of its own (assert_runtime.py)."""
    call = (f"run_check({code!r}, {json.loads(check_spec(problem))!r}, {limit_s!r}, "
            f"{candidate_server()!r}, {timed!r})")
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


def parse_record(stdout: str, mark: str):
    """The JSON value printed after the last ``mark``, or None. The text may be the candidate's:
    callers treat the value as untrusted data."""
    head, found, tail = stdout.rpartition(mark)
    if not found:
        return None
    try:
        return json.loads(tail.split("\n", 1)[0])
    except (ValueError, RecursionError):
        return None


def parse_reference(stdout: str):
    return parse_record(stdout, REFERENCE_MARK)


def parse_outputs(stdout: str):
    return parse_record(stdout, OUTPUTS_MARK)
