"""The child side of a sandboxed program and what its report means.

Runs inside the forked child (``run_program``) and in the worker (``classify``); imports only the
standard library, like worker.py, next to which it is mounted.

A pass is a 128-bit key, fresh per program, that the supervisor puts in the key pipe (fd 4)
before the program starts and that the harness moves to the report pipe (fd 3) with ``splice``
once code + tests returned normally, then exit 0. The key is moved kernel to kernel: it is never
in this process's memory, so no frame, traceback, gc-visible object, ``__main__``, builtins or
module holds it, before or after the program. A failure is a plain text record (unauthenticated:
a program can only spoil its own details). Trade-off: the program runs in the same process, so a
program written against the harness (using fd 5 itself, writing memory with ctypes, or rewriting
the harness's frame through the tracing API) can still forge a pass; see docs/sandbox.md.
"""

from __future__ import annotations

import errno
import marshal
import os
import signal
import sys
import types

_write, _exit = os.write, os._exit  # captured before any user code runs
HARNESS_FILE = __file__
RESULT_FD, KEY_FD, HELD_FD = 3, 4, 5   # report pipe; key pipe, then where the harness holds it
KEY_BYTES = 16  # run_program writes these four as literals (see there)
REC, SEP = "\x1e", "\x1f"
BLOCKED_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EFBIG, errno.EAGAIN}


def _flush_streams() -> None:
    """What the program printed goes out before the process ends (the streams may be its own)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def _failed(exc: BaseException, source: str) -> None:
    """Report a failure (a text record on fd 3), leave the traceback on stderr, exit 1. Also
    reached when the key cannot move: the program closed fd 3 or 5, or a second call."""
    etype = err_no = message = ""
    try:
        etype = type(exc).__name__
        code = getattr(exc, "errno", None)
        err_no = str(code) if type(code) is int else ""
        message = f"exit({exc.code}) before the tests finished" if etype == "SystemExit" else str(exc)
    except BaseException:
        message = message or "<unprintable exception>"
    outcome = "memory" if isinstance(exc, MemoryError) else "error"
    fields = [outcome, etype, err_no, message[:2000]]
    record = REC + SEP.join(str.replace(str.replace(f, REC, " "), SEP, " ") for f in fields) + REC
    try:
        _write(RESULT_FD, record.encode("utf-8", "replace"))
        code = 1
    except BaseException:
        code = 0  # the program closed fd 3: with neither key nor record, an early exit (a fail)
    _flush_streams()
    try:
        if not isinstance(exc, SystemExit):
            write_all(2, "".join(format_exception(exc, source)).encode("utf-8", "replace"))
    except BaseException:
        pass
    _exit(code)


def run_program(source: str, compiled: bytes | None = None, *, _dup2=os.dup2, _close=os.close,
                _splice=os.splice, _exit=os._exit, _loads=marshal.loads, _compile=compile, _exec=exec,
                _module=types.ModuleType, _modules=sys.modules, _base=BaseException,
                _flush=_flush_streams, _fail=_failed) -> None:
    """Child side: execute code + tests as one __main__ program, report, exit. Never returns.

    ``compiled`` is the program already compiled by the worker's supervisor (marshal of the code
    object): compiling in a process that never forks costs no copy-on-write page faults.

    Right before the program the key pipe moves from fd 4 to fd 5, so running this function again
    (found through gc or a frame) fails before its program starts. What runs after the program is
    bound before it: functions as default arguments, fds as literals (a global could be rebound
    through a frame's f_globals), so patching builtins, os, this module or ``__main__`` does not
    reach it. The pass path is the rest of the program's own line: a trace function can move a
    frame only to the start of a line, and this one starts with that move of the key pipe. The
    program cannot ``import harness`` (dropped from sys.modules, not on sys.path)."""
    try:
        main = _module("__main__")
        _modules["__main__"] = main
        _modules.pop(__name__, None)
        try:
            code = _loads(compiled) if compiled is not None else _compile(source, PROGRAM, "exec", dont_inherit=True)
            _dup2(4, 5, False); _close(4); _exec(code, main.__dict__); _flush(); _splice(5, 3, 16); _exit(0)  # noqa: E702
        except _base as exc:  # SystemExit and KeyboardInterrupt are failures too
            _fail(exc, source)
    finally:
        _exit(1)


CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
PROGRAM = "<program>"
REPEAT_CUTOFF = 3  # Python's own: identical frames beyond this are counted, not printed


def format_exception(exc: BaseException, source: str) -> list[str]:
    """A traceback as Python prints it, minus the ^^^ position markers; the harness's own frame
    is left out and lines of the program come from ``source``.

    Trade-off: the standard ``traceback`` module re-parses every frame's line (``ast``) to place
    its markers, which costs a failing program ~150 copy-on-write page faults (measured, ~1 ms of
    its ~3); the frames, lines and exception text here are the same, the markers are left out."""
    chain, seen = [(exc, "")], {id(exc)}
    while True:  # the cause/context chain; Python prints it oldest first
        current = chain[-1][0]
        if current.__cause__ is not None and id(current.__cause__) not in seen:
            chain.append((current.__cause__, CAUSE))
        elif (current.__context__ is not None and not current.__suppress_context__
              and id(current.__context__) not in seen):
            chain.append((current.__context__, CONTEXT))
        else:
            break
        seen.add(id(chain[-1][0]))
    program_lines = source.splitlines()
    lines: list[str] = []
    for index in range(len(chain) - 1, -1, -1):
        lines += _exception_lines(chain[index][0], program_lines)
        if index > 0:
            lines.append(chain[index][1])
    return lines


def _exception_lines(exc: BaseException, program_lines: list[str]) -> list[str]:
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename != HARNESS_FILE:
            frames.append((code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    lines = ["Traceback (most recent call last):\n"] if frames else []
    previous, repeats = None, 0
    for frame in frames + [None]:
        if frame is not None and frame == previous:
            repeats += 1
            if repeats <= REPEAT_CUTOFF:
                lines += _frame_lines(frame, program_lines)
            continue
        if repeats > REPEAT_CUTOFF:
            extra = repeats - REPEAT_CUTOFF
            lines.append(f"  [Previous line repeated {extra} more time{'s' if extra > 1 else ''}]\n")
        if frame is not None:
            lines += _frame_lines(frame, program_lines)
        previous, repeats = frame, 1
    etype = type(exc)
    name, module = etype.__qualname__, etype.__module__
    if module not in ("__main__", "builtins"):
        name = f"{module if isinstance(module, str) else '<unknown>'}.{name}"
    if isinstance(exc, SyntaxError):
        lines += _syntax_error_lines(exc)
        message = exc.msg or "<no detail available>"
    else:
        try:
            message = str(exc)
        except BaseException:
            message = "<exception str() failed>"
    lines.append(f"{name}: {message}\n" if message else f"{name}\n")
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, (list, tuple)):
        lines += [f"{note}\n" for note in notes if isinstance(note, str)]
    return lines


def _frame_lines(frame: tuple[str, int, str], program_lines: list[str]) -> list[str]:
    filename, lineno, name = frame
    text = _source_line(filename, lineno, program_lines).strip()
    head = f'  File "{filename}", line {lineno}, in {name}\n'
    return [head, f"    {text}\n"] if text else [head]


def _source_line(filename: str, lineno: int, program_lines: list[str]) -> str:
    if filename == PROGRAM:
        return program_lines[lineno - 1] if 0 < lineno <= len(program_lines) else ""
    try:  # a library file: read up to the line (no linecache, whose tokenize import is heavy)
        with open(filename, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if number == lineno:
                    return line
    except (OSError, ValueError):
        pass
    return ""


def _syntax_error_lines(exc: SyntaxError) -> list[str]:
    lines = [f'  File "{exc.filename or "<string>"}", line {exc.lineno}\n'] if exc.lineno is not None else []
    if isinstance(exc.text, str):
        text = exc.text.rstrip("\n")
        stripped = text.lstrip(" \n\f")
        indent = len(text) - len(stripped)
        lines.append(f"    {stripped}\n")
        if isinstance(exc.offset, int) and exc.offset - 1 - indent >= 0:
            start = exc.offset - 1 - indent
            end = exc.end_offset - 1 - indent if isinstance(exc.end_offset, int) else start + 1
            lines.append("    " + " " * start + "^" * max(1, end - start) + "\n")
    return lines


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[_write(fd, view):]


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

    exec(compile(WARM_UP, "<warm-up>", "exec", dont_inherit=True), {"__name__": "__warm_up__"})
    try:
        try:
            raise ValueError("warm-up")
        except ValueError as exc:
            raise KeyError("warm-up") from exc
    except KeyError as exc:
        format_exception(exc, "")
    gc.collect()
    gc.freeze()


def classify(timed_out: bool, exit_code: int, passed: bool, record: list[str] | None) -> dict:
    """Map how the child ended (its key on the report pipe, or its failure record) to a status."""
    if (timed_out and ((not passed and record is None) or exit_code < 0)) or exit_code == -signal.SIGXCPU:
        return {"status": "timeout", "error_type": "Timeout", "error": "time limit exceeded"}
    if passed:
        return {"status": "pass"} if exit_code == 0 else {"status": "crash", "error_type": "Crash",
                                                          "error": f"exit code {exit_code} after the tests"}
    if record is not None:
        outcome, etype, err_no, message = record
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


def find_record(text: str) -> list[str] | None:
    """The last well-formed failure record (the harness writes its own last, right before exit)."""
    for chunk in reversed(text.split(REC)):
        fields = chunk.split(SEP)
        if len(fields) == 4:
            return fields
    return None
