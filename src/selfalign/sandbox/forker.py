"""The forker: the warm interpreter image every program is forked from, and its loop.

Forked once from the worker's supervisor (worker.py), it does per program only what must happen
in the image's own process: fork, wait, and two short replies. Every page it writes after a fork
is a copy-on-write page fault for it or the child (2-4 us each in a VM, measured), so everything
else (compiling, the clock, output, verdicts) lives in the supervisor. The child sets itself up
here and then runs the program through harness.py. The forker holds the key pipe's read end only
to pass it on: it never reads it, so no program's key is ever in its memory or a child's. Also
here: the length-prefixed marshal framing that the host, the supervisor and the forker speak.
Standard library only, like worker.py.
"""

from __future__ import annotations

import marshal
import os
import resource

# Warm imports that generated code commonly needs, each child gets them for free. Mostly
# pure-Python: every C extension adds mappings that each fork copies and each exit tears down
# (measured: all the stdlib extensions took the worker from 38 to 161 mappings and fork+exit
# cost 4x); math, heapq and bisect are small and imported often enough to pay for themselves.
import bisect, collections, functools, heapq, itertools, math, re, string, typing  # noqa: E401,F401

# worker.py, the only importer, put this directory on sys.path
from harness import KEY_FD, RESULT_FD, run_program, warm_up, write_all  # noqa: E402


def forker_loop(jobs: int, replies: int, stdio: tuple[int, ...], uid: int | None) -> None:
    """The forker: warm up once, then per job fork a child, say its pid, wait, say how it ended.
    Kept to a few steps per job: every page it writes after a fork is a page fault (~90 per
    program, measured, most of them whatever it touches first)."""
    warm_up()
    while (job := read_message(jobs)) is not None:
        pid = os.fork()
        if pid == 0:
            _child(job, stdio, uid)
        os.write(replies, pack(pid))
        _, status, usage = os.wait4(pid, 0)
        os.write(replies, pack(status, int((usage.ru_utime + usage.ru_stime) * 1e6), usage.ru_maxrss))
    os._exit(0)  # the supervisor is gone


def pack(*numbers: int) -> bytes:
    return b"".join(n.to_bytes(8, "little") for n in numbers)


def _child(job: dict, stdio: tuple[int, ...], uid: int | None) -> None:
    """stdio: stdin, stdout, stderr, the report pipe and the key pipe, placed at fds 0-4."""
    try:
        os.setsid()  # own process group, so the supervisor can kill it as a whole
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        for fd in (RESULT_FD, KEY_FD):
            os.set_inheritable(fd, False)  # exec'd programs get neither
        os.closerange(KEY_FD + 1, 1 << 16)
        os.chdir(job["workdir"])  # HOME and TMPDIR already point here
        for name, soft, hard in job["limits"]:
            resource.setrlimit(name, (soft, hard))
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
    except BaseException as exc:
        os.write(2, f"sandbox set-up failed: {exc!r}\n".encode())
        os._exit(121)
    try:
        run_program(job["source"], job["compiled"])
    finally:
        os._exit(121)  # run_program never returns; this child must never reach the forker's loop


def read_exact(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def send_message(fd: int, message: dict) -> None:
    """Length-prefixed marshal: builtin (no C extension to load) and fast."""
    body = marshal.dumps(message)
    write_all(fd, len(body).to_bytes(4, "little") + body)


def read_message(fd: int) -> dict | None:
    head = read_exact(fd, 4)
    if head is None:
        return None
    body = read_exact(fd, int.from_bytes(head, "little"))
    return None if body is None else marshal.loads(body)
