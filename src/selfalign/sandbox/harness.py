"""The child side of a sandboxed program and what its report means.

Runs inside the forked child (``run_program``) and in the worker (``classify``); imports only the
standard library, like worker.py, next to which it is mounted. Trade-off: the report is a short
string written with a few captured builtins rather than JSON, so nothing the program can patch
(``json``, ``print``, builtins) sits on the path that declares a pass.
"""

from __future__ import annotations

import errno
import linecache
import os
import signal
import sys
import traceback
import types

_write, _exit = os.write, os._exit  # captured before any user code runs
RESULT_FD = 3
REC, SEP = "\x1e", "\x1f"
BLOCKED_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EFBIG, errno.EAGAIN}


def _report(nonce: str, outcome: str, exc: BaseException | None) -> None:
    """Write one record on the private fd; only str operations, which programs cannot patch."""
    etype = err_no = message = ""
    if exc is not None:
        try:
            etype = type(exc).__name__
            code = getattr(exc, "errno", None)
            err_no = str(code) if type(code) is int else ""
            message = f"exit({exc.code}) before the tests finished" if etype == "SystemExit" else str(exc)
        except BaseException:
            message = message or "<unprintable exception>"
    fields = [nonce, outcome, etype, err_no, message[:2000]]
    record = REC + SEP.join(f.replace(REC, " ").replace(SEP, " ") for f in fields) + REC
    try:
        _write(RESULT_FD, record.encode("utf-8", "replace"))
    except BaseException:
        pass


def run_program(source: str, nonce: str) -> None:
    """Child side: execute code + tests as one __main__ program, report, exit. Never returns.

    The program cannot `import harness` (it is dropped from sys.modules and not on sys.path), and
    the functions used after it ran are held in locals here, out of reach of module patching."""
    report, finish, memory_error = _report, _finish, MemoryError
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    sys.modules.pop(__name__, None)
    # Tracebacks then show the failing lines (and linecache skips its search of sys.path).
    linecache.cache["<program>"] = (len(source), None, source.splitlines(True), "<program>")
    try:
        exec(compile(source, "<program>", "exec"), main.__dict__)
    except memory_error as exc:
        report(nonce, "memory", exc)
        finish(1, exc)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are failures too
        report(nonce, "error", exc)
        finish(1, exc)
    report(nonce, "pass", None)
    finish(0, None)


def _finish(code: int, exc: BaseException | None) -> None:
    """Leave the traceback on stderr (for the tail), flush what the program printed, exit."""
    try:
        if exc is not None and not isinstance(exc, SystemExit):
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)  # from the program on
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    _exit(code)


WARM_UP = """
import collections, functools, itertools, re
from typing import List, Optional
class Point:
    def __init__(self, x: int, y: int = 0) -> None:
        self.x, self.y = x, y
def f(xs: List[int], k: Optional[int] = None) -> dict:
    return {i: [x * 2 for x in xs if x % 2] for i in range(k or 3)}
assert f([1, 2, 3])[0] == [2, 6], f"bad {f([1])!r}"
try:
    1 / 0
except ZeroDivisionError:
    pass
"""


def warm_up() -> None:
    """Pay first-use costs once here instead of in every child: the first compile() in a process
    costs ~2 ms (measured), a first traceback more. Then freeze the heap so a child's garbage
    collection never walks (and copies) the worker's objects."""
    import gc
    import io

    exec(compile(WARM_UP, "<warm-up>", "exec"), {"__name__": "__warm_up__"})
    try:
        raise ValueError("warm-up")
    except ValueError as exc:
        traceback.print_exception(exc, file=io.StringIO())
    gc.collect()
    gc.freeze()


def classify(timed_out: bool, exit_code: int, record: list[str] | None) -> dict:
    """Map how the child ended (and what it reported) to a status with an error."""
    if (timed_out and (record is None or exit_code < 0)) or exit_code == -signal.SIGXCPU:
        return {"status": "timeout", "error_type": "Timeout", "error": "time limit exceeded"}
    if record is not None:
        outcome, etype, err_no, message = record[1:5]
        if outcome == "pass":
            return {"status": "pass"} if exit_code == 0 else {"status": "crash", "error_type": "Crash",
                                                              "error": f"exit code {exit_code} after the tests"}
        status = "memory" if outcome == "memory" else "fail"
        if etype == "PermissionError" or (err_no.isdigit() and int(err_no) in BLOCKED_ERRNOS):
            status = "blocked"
        elif etype == "RuntimeError" and "can't start new thread" in message:
            status = "blocked"
        return {"status": status, "error_type": etype or None, "error": message or None}
    if exit_code < 0:
        name = signal.Signals(-exit_code).name if -exit_code in signal.valid_signals() else str(-exit_code)
        return {"status": "crash", "error_type": "Signal", "error": f"killed by {name}"}
    if exit_code == 0:
        return {"status": "fail", "error_type": "EarlyExit",
                "error": "the program exited with code 0 before its tests finished"}
    return {"status": "crash", "error_type": "Crash", "error": f"exit code {exit_code} without a verdict"}


def find_record(text: str, nonce: str) -> list[str] | None:
    """The last well-formed record carrying this program's nonce; anything else is ignored."""
    for chunk in reversed(text.split(REC)):
        fields = chunk.split(SEP)
        if len(fields) == 5 and fields[0] == nonce:
            return fields
    return None
