"""The user-namespace level's own set-up: how programs are kept from their worker without a uid.

At ``bwrap+userns+seccomp`` (any user; docs/sandbox.md) the worker cannot give programs a uid of
their own: a user namespace maps one uid. Instead, its first stage (boot.py's ``boot``) nests a
pid namespace and a mount namespace whose /proc shows only that pid namespace, and starts the
forker there as pid 1, exec'd clean, non-dumpable and without signal handlers. A program, the
forker's child, then has no pid for the supervisor (not in its namespace, not in its /proc),
cannot signal the forker (the kernel delivers nothing from inside a pid namespace to an init
without a handler), and cannot read or write the forker's memory or fds (non-dumpable, and it has
no capabilities). The forker gets its pipes from the supervisor over a socket (SCM_RIGHTS) once
the supervisor is up, so the pipes are made in one place (worker.py's ``Worker``).

Mounted beside worker.py and imported only at this level; standard library only (ctypes for
unshare, mount and prctl). Trade-off: the forker is a third interpreter start per worker (~0.2 s
more per worker start, measured), and ctypes stays mapped in the forker (~40 us of CPU more per
fork + exit, ~4%, measured).
"""

from __future__ import annotations

import ctypes
import marshal
import os
import signal
import sys

from forker import forker_loop  # worker.py, the only importer, put this directory on sys.path

CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 0x1, 0x2, 0x4, 0x8, 0x20
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 4, 47, 4
WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")


def start_nested_forker(libc, flt, config: dict) -> tuple[int, int]:
    """Start the forker as pid 1 of a new pid namespace (boot, holding CAP_SYS_ADMIN; `flt` is
    the seccomp filter, loaded in the forker too). Returns the socket on which the supervisor
    hands it its pipes, and the forker's pid in our namespace."""
    import socket  # here, not at the top: the forker's image (every child's) does not need it

    check(libc, libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")  # for our children only
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)  # never the host's pipes
            os.dup2(null, 1)
            private_proc(libc)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if flt is not None:
                flt.load()
            libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # exec then drops them all
            layout, fds, _, _ = socket.recv_fds(theirs, 1 << 16, 16)
            if not layout:
                os._exit(0)  # the supervisor never came up
            for fd in fds:
                os.set_inheritable(fd, True)
            config.update(layout=layout, fds=fds)
            os.execv(sys.executable, [sys.executable, "-I", "-B", "-S", WORKER_SCRIPT, "forker",
                                      marshal.dumps(config).hex()])
        except BaseException as exc:
            os.write(2, f"sandbox forker set-up failed: {exc!r}\n".encode())
            os._exit(1)
    theirs.close()
    os.set_inheritable(ours.fileno(), True)
    return ours.detach(), pid


def private_proc(libc) -> None:
    """A mount namespace whose /proc shows only this process's pid namespace, with the parts
    bubblewrap also keeps read-only."""
    check(libc, libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    check(libc, libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    check(libc, libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount /proc")
    for path in (b"/proc/sys", b"/proc/sysrq-trigger", b"/proc/irq", b"/proc/bus"):
        if os.path.exists(path):
            check(libc, libc.mount(path, path, None, MS_BIND | MS_REC, None), f"bind {path}")
            flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
            check(libc, libc.mount(None, path, None, flags, None), f"remount {path} read-only")


def check(libc, result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def hand_over(handoff: int, forker_args: tuple) -> None:
    """Supervisor side: send the waiting forker its fds and where they go in forker_loop's
    arguments (the tuple, with each fd replaced by its index)."""
    import socket

    fds: list[int] = []

    def index(value):
        if isinstance(value, tuple):
            return tuple(index(v) for v in value)
        fds.append(value)
        return len(fds) - 1

    with socket.socket(fileno=handoff) as channel:
        socket.send_fds(channel, [marshal.dumps(index(forker_args))], fds)


def forker(config: dict) -> None:
    """Stage ``forker``: pid 1 of the programs' namespace, serving forker_loop."""
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # inherited by every child, as after setuid
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # no handler left: no signal from a program lands
    sys.path[:] = [config["workdir"], *config["sys_path"]]
    os.environ.update(HOME=config["workdir"], TMPDIR=config["workdir"])  # inherited by every child
    fds = config["fds"]

    def place(value):
        return tuple(place(v) for v in value) if isinstance(value, tuple) else fds[value]

    forker_loop(*place(marshal.loads(config["layout"])), None)


def probe(config: dict) -> None:
    """Stage ``probe`` (isolation.bwrap_works(userns=True)): the namespace set-up of boot, once;
    exit status 0 when it works (seccomp_works() checks the filter's library on its own)."""
    libc = ctypes.CDLL(None, use_errno=True)
    check(libc, libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    pid = os.fork()
    if pid == 0:
        try:
            private_proc(libc)
            visible = [p for p in os.listdir("/proc") if p.isdigit()]
            os._exit(0 if os.getpid() == 1 and visible == ["1"] else 3)
        except BaseException as exc:
            os.write(2, f"{exc}\n".encode())
            os._exit(1)
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
