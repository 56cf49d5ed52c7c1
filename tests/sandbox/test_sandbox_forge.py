"""A program whose tests fail cannot make the sandbox report a pass by finding the harness's
reporting machinery: every attack below ends in a failing ``assert`` (or exits before its tests)
and must get a non-pass verdict. Controls make each test able to fail: the honest version of the
program (same attack code, tests that pass) passes, and the secret-finding attacks do forge a pass
against ``TOY_HARNESS``, a harness built the way ours was (a nonce in its locals and in the job
dict, a reporting function in its globals). What stays possible (docs/sandbox.md) is pinned down
too: a program that uses the harness's file descriptors directly forges a pass.

In the execute path code and tests are one program, so what the program's own asserts mean is
its own business (an ``__eq__`` that returns True makes its own tests pass: a weak test, for
curation's stub run to find); the attacks here aim at the verdict, not at the tests.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sandbox_guard import host_guard, require_isolation

from selfalign.sandbox import Limits, Program, Sandbox

LIMITS = Limits(timeout_s=5.0, memory_mb=1024, max_processes=16)

KIT = r'''
import builtins, gc, os, sys
ATTACKING = True
REPORTERS = ("report", "_report", "run_program")
def looks_secret(value):
    return ((type(value) is str and len(value) == 32 and set(value) <= set("0123456789abcdef"))
            or (type(value) is bytes and len(value) == 16))
def scan(scopes):
    secrets, reporters = [], []
    for scope in scopes:
        for value in list(scope.values()):
            if looks_secret(value):
                secrets.append(value)
            if callable(value) and getattr(value, "__name__", "") in REPORTERS:
                reporters.append(value)
    return secrets, reporters
def forge(secrets, reporters):
    """Report a pass with every secret found, else run the harness again on a passing program
    (with each secret), else write records by hand; then leave with exit code 0 before the tests."""
    if not ATTACKING:
        return
    for fn in [fn for fn in reporters if fn.__name__ != "run_program"]:
        for args in [(s, "pass") for s in secrets] + [(s, "pass", None) for s in secrets]:
            try:
                fn(*args)
                os._exit(0)
            except BaseException:
                pass
    for fn in [fn for fn in reporters if fn.__name__ == "run_program"]:
        for args in [("x = 1", s) for s in secrets] + [("x = 1", None), ("x = 1",)]:
            try:
                fn(*args)
            except BaseException:
                pass
    for secret in secrets:
        text = secret if type(secret) is str else secret.hex()
        try:
            os.write(3, ("\x1e" + "\x1f".join([text, "pass", "", "", ""]) + "\x1e").encode())
        except OSError:
            pass
    os._exit(0)
def frames(frame):
    while frame is not None:
        yield frame
        frame = frame.f_back
'''

# The tail of the tracing attacks: install ``tracer`` on every frame of the stack, harness included.
TRACE_EVERY_FRAME = """
frame = sys._getframe()
while frame is not None:
    frame.f_trace = tracer
    frame = frame.f_back
sys.settrace(lambda *a: None)"""

# name -> code (before the tests). Each program then runs "assert False"; its honest version
# runs "assert True" (when the attack ends the program itself, the honest version is the same
# program without the attack's last step).
ATTACKS = {
    "frame_walk": KIT + "forge(*scan([s for f in frames(sys._getframe()) for s in (f.f_locals, f.f_globals)]))",
    "traceback_walk": KIT + '''
try:
    raise ValueError
except ValueError as exc:
    tb = exc.__traceback__
forge(*scan([s for f in frames(tb.tb_frame) for s in (f.f_locals, f.f_globals)]))''',
    "gc_scan": KIT + '''
scopes = []
for obj in gc.get_objects():
    kind = type(obj).__name__
    if kind == "dict":
        scopes.append(obj)
    elif kind in ("list", "tuple"):
        scopes.append(dict(enumerate(obj)))
    elif kind == "frame":
        scopes.append(obj.f_locals)
    elif kind == "function":
        scopes += [{0: obj}, obj.__kwdefaults__ or {}, dict(enumerate(obj.__defaults__ or ())),
                   {i: c.cell_contents for i, c in enumerate(obj.__closure__ or ())}]
forge(*scan(scopes))''',
    "harness_entry_via_gc": KIT + '''
for obj in gc.get_objects():
    if ATTACKING and type(obj).__name__ == "function" and obj.__name__ == "run_program":
        for args in (("x = 1", None), ("x = 1",)):
            try:
                obj(*args)
            except BaseException:
                pass''',
    "rebind_main": '''
import __main__, os, sys
for name in ("_report", "report", "_failed", "_finish", "_fail", "_flush_streams", "classify", "write_all"):
    setattr(__main__, name, lambda *a, **k: os._exit(0))
sys.modules["__main__"] = __main__''',
    "rebind_harness_globals": '''
import os, sys
frame = sys._getframe()
while frame is not None:
    scope = frame.f_globals
    for name in ("_failed", "_flush_streams", "_write", "_exit", "write_all", "format_exception", "RESULT_FD",
                 "KEY_FD", "HELD_FD", "KEY_BYTES", "PROGRAM"):
        if name in scope and scope.get("__name__") != "__main__":
            scope[name] = (lambda *a, **k: os._exit(0)) if callable(scope[name]) else 0
    frame = frame.f_back''',
    "patch_builtins": '''
import builtins, math, os
for name in ("isinstance", "len", "abs", "str", "type", "getattr", "repr", "BaseException", "MemoryError"):
    setattr(builtins, name, (lambda *a, **k: 0))
math.isclose = lambda *a, **k: True
os._exit = os.write = os.splice = os.close = os.dup2 = lambda *a, **k: 0''',
    "lying_exception": '''
class Lie(AssertionError):
    __eq__ = lambda self, other: True
    __hash__ = object.__hash__
    __class__ = property(lambda self: SystemExit)
    __str__ = lambda self: "\\x1epass\\x1f\\x1f\\x1f\\x1e"
    code = 0
def _raise():
    raise Lie("tests passed")''',
    "exit_with_int_subclass": '''
import sys
class Zero(int):
    __eq__ = lambda self, other: True
    __hash__ = int.__hash__
    __bool__ = lambda self: False
def _raise():
    sys.exit(Zero(0))''',
    "os_exit_0": "import os\ndef _raise():\n    os._exit(0)",
    "sys_exit_0": "import sys\ndef _raise():\n    sys.exit(0)",
    "systemexit_in_del": '''
class Bomb:
    def __del__(self):
        raise SystemExit(0)
Bomb()''',
    "atexit_exit_0": "import atexit, os\natexit.register(os._exit, 0)",
    "trace_rewrites_harness_locals": '''
import sys
def tracer(frame, event, arg):
    if event in ("line", "exception") and frame.f_code.co_name == "run_program":
        for name, value in list(frame.f_locals.items()):
            if isinstance(value, BaseException):
                frame.f_locals[name] = None
    return tracer''' + TRACE_EVERY_FRAME,
    "trace_jumps_into_pass_path": '''
import sys
tried = set()
def tracer(frame, event, arg):
    """Once the harness handles the failure, jump to each of its other lines in turn (the pass path
    among them), once each."""
    if event == "line" and frame.f_code.co_name == "run_program" and "exc" in frame.f_locals:
        for line in sorted({line for _, _, line in frame.f_code.co_lines() if line} - tried - {frame.f_lineno}):
            tried.add(line)
            try:
                frame.f_lineno = line
                break
            except ValueError:
                pass
    return tracer''' + TRACE_EVERY_FRAME,
}
# The attack is a function called by the tests instead of the assert (it raises or exits).
RAISES = {"lying_exception", "exit_with_int_subclass", "os_exit_0", "sys_exit_0"}
TOY_FORGED = {"frame_walk", "traceback_walk", "gc_scan"}
FD_KNOWLEDGE = "import os\nos.splice(5, 3, 16)\nos._exit(0)"   # the documented residual


def program(name: str, honest: bool) -> Program:
    code = ATTACKS[name]
    if name in RAISES:
        return Program(f"{name}-{honest}", code, "assert True" if honest else "_raise()")
    if honest:   # the attack's code runs, without its last step
        code = code.replace("ATTACKING = True", "ATTACKING = False").replace("atexit.register", "print")
    return Program(f"{name}-{honest}", code, "assert True" if honest else "assert False")


@pytest.fixture(scope="module")
def verdicts():
    require_isolation()
    programs = [program(n, h) for n in ATTACKS for h in (False, True)]
    programs.append(Program("fd_knowledge", FD_KNOWLEDGE, "assert False"))
    with host_guard(), Sandbox(LIMITS, workers=2) as sandbox:
        return {p.id: r for p, r in sandbox.run(programs)}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_does_not_forge_a_pass(verdicts, name):
    result = verdicts[f"{name}-False"]
    assert result.status != "pass", (result.error_type, result.error, result.stderr_tail[-500:])


@pytest.mark.parametrize("name", list(ATTACKS))
def test_the_honest_version_passes(verdicts, name):
    result = verdicts[f"{name}-True"]
    assert result.status == "pass", (result.status, result.error_type, result.error, result.stderr_tail[-500:])


def test_using_the_harness_file_descriptors_is_the_documented_residual(verdicts):
    """docs/sandbox.md: a program that moves the key from fd 5 to fd 3 itself forges a pass.
    If this starts failing, the residual is gone: update the docs."""
    assert verdicts["fd_knowledge"].status == "pass"


TOY_HARNESS = r'''
import os
def report(nonce, outcome):
    os.write(REPORT_FD, ("\x1e" + "\x1f".join([nonce, outcome, "", "", ""]) + "\x1e").encode())
def run_program(source, nonce):
    try:
        exec(compile(source, "<program>", "exec"), {"__name__": "__main__"})
    except BaseException:
        report(nonce, "error")
        os._exit(1)
    report(nonce, "pass")
    os._exit(0)
job = {"source": SOURCE, "nonce": NONCE, "limits": [(9, 1 << 30)]}
run_program(job["source"], job["nonce"])
'''


def toy_passes(source: str) -> bool:
    """Run ``source`` under TOY_HARNESS: a pass is its nonce's pass record and exit code 0."""
    nonce = os.urandom(16).hex()
    read, write = os.pipe()
    toy = TOY_HARNESS.replace("SOURCE", repr(source)).replace("NONCE", repr(nonce)).replace("REPORT_FD", str(write))
    proc = subprocess.Popen([sys.executable, "-c", toy], pass_fds=(write,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read, "rb") as report:
        records = report.read().decode()
    return proc.wait(timeout=30) == 0 and f"\x1e{nonce}\x1fpass\x1f" in records


@pytest.mark.parametrize("name", sorted(TOY_FORGED))
def test_the_attack_forges_a_pass_from_a_harness_with_a_secret_in_reach(name):
    prog = program(name, honest=False)
    assert toy_passes("assert True") and not toy_passes("assert False")
    assert toy_passes(prog.code + "\n" + prog.tests)
