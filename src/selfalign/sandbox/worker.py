"""The long-lived worker that runs inside the isolation and forks one fresh child per program.

Started as ``python -I -B worker.py boot CONFIG`` (stage one sets seccomp and prctls, then execs
``worker.py serve CONFIG``), it reads jobs on stdin and answers verdicts on stdout, both as
length-prefixed marshal. It imports only the standard library (pyseccomp in stage one), because
it runs in a read-only view of the machine where our package is not installed; harness.py is
mounted beside it.

Trade-off: forking from a warm interpreter makes each program cost a fork instead of an
interpreter start (the 10x), at the price of every child inheriting the worker's memory image;
so the worker keeps that image small (no C extensions it can avoid) and warm.

Why a pass cannot be faked by accident: the child reports over a private pipe (fd 3), with a
per-program nonce, only after the tests ran to the end; the verdict requires that record AND a
clean exit. ``sys.exit(0)``, ``os._exit(0)``, printed markers, patched builtins or a replaced
``AssertionError`` all end without the record. A program written to search its own memory for the
nonce could forge it; the isolation still contains such a program (see docs/sandbox.md).
"""

from __future__ import annotations

import errno
import marshal
import os
import resource
import select
import signal
import sys
import time

# Warm imports that generated code commonly needs, each child gets them for free. Mostly
# pure-Python: every C extension adds mappings that each fork copies and each exit tears down
# (measured: all the stdlib extensions took the worker from 38 to 161 mappings and fork+exit
# cost 4x); math, heapq and bisect are small and imported often enough to pay for themselves.
import bisect, collections, functools, heapq, itertools, math, re, string, typing  # noqa: E401,F401

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I does not add it
from harness import RESULT_FD, classify, find_record, run_program, warm_up  # noqa: E402

SECCOMP_DENIED = ["ptrace", "mount", "umount2", "unshare", "setns", "pivot_root", "chroot", "bpf",
                  "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd",
                  "io_uring_setup", "process_vm_readv", "process_vm_writev", "kexec_load",
                  "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
                  "acct", "settimeofday", "clock_settime", "syslog"]


def build_seccomp_filter():
    """Deny non-Unix sockets (EACCES, so Python raises PermissionError -> 'blocked') and
    kernel-facing calls an unprivileged program never needs (defence in depth)."""
    import pyseccomp as sc

    flt = sc.SyscallFilter(defaction=sc.ALLOW)
    for family in (2, 10, 16, 17):  # AF_INET, AF_INET6, AF_NETLINK, AF_PACKET
        flt.add_rule(sc.ERRNO(errno.EACCES), "socket", sc.Arg(0, sc.EQ, family))
    for name in SECCOMP_DENIED:
        try:
            flt.add_rule(sc.ERRNO(errno.EPERM), name)
        except Exception:  # a syscall this architecture lacks
            pass
    return flt


def _set_limits(limits: dict, timeout: float, own_uid: bool) -> None:
    mb = 1024 * 1024
    nproc = [(resource.RLIMIT_NPROC, limits["max_processes"])] if own_uid else []  # counts per uid
    for name, value in (*nproc, (resource.RLIMIT_AS, limits["memory_mb"] * mb),
                        (resource.RLIMIT_CPU, (int(timeout) + 1, int(timeout) + 2)),
                        (resource.RLIMIT_FSIZE, limits["file_size_mb"] * mb),
                        (resource.RLIMIT_NOFILE, limits["max_open_files"]),
                        (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(name, value if isinstance(value, tuple) else (value, value))


class Worker:
    """One isolated slot: runs jobs one after another, each in a fresh forked child."""

    def __init__(self, config: dict):
        self.uid: int | None = config.get("uid")
        self.tmp_root: str = config["tmp_root"]
        self.pid_namespace: bool = config.get("pid_namespace", False)
        self.tail = int(config.get("tail_bytes", 4096))
        self.devnull = os.open(os.devnull, os.O_RDWR)
        os.makedirs(self.tmp_root, mode=0o711, exist_ok=True)
        self.workdir = f"{self.tmp_root}/w{os.getpid()}-{os.urandom(4).hex()}"
        os.environ.update(HOME=self.workdir, TMPDIR=self.workdir)  # inherited by every child
        sys.path[0] = self.workdir

    # ---- child -------------------------------------------------------------------------
    def _child(self, job: dict, workdir: str, fds: tuple[int, int, int], nonce: str) -> None:
        try:
            os.setsid()  # own process group, so the worker can kill it as a whole
            for target, fd in enumerate((self.devnull, *fds)):
                os.dup2(fd, target)
            os.set_inheritable(RESULT_FD, False)  # exec'd programs do not get the report fd
            os.closerange(RESULT_FD + 1, 1 << 16)
            os.chdir(workdir)  # HOME and TMPDIR already point here (set once, in serve)
            _set_limits(job["limits"], job["timeout"], self.uid is not None)
            if self.uid is not None:
                os.setgroups([])
                os.setgid(self.uid)
                os.setuid(self.uid)
        except BaseException as exc:
            os.write(2, f"sandbox set-up failed: {exc!r}\n".encode())
            os._exit(121)
        run_program(job["code"] + "\n\n" + job.get("tests", ""), nonce)

    # ---- parent ------------------------------------------------------------------------
    def run(self, job: dict) -> dict:
        nonce = os.urandom(16).hex()
        workdir = self.workdir  # one program at a time: the same dir, emptied in between
        os.makedirs(workdir, 0o700, exist_ok=True)
        os.chmod(workdir, 0o700)  # the previous program owned it and may have changed that
        if self.uid is not None:
            os.chown(workdir, self.uid, self.uid)
        pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, result
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            self._child(job, workdir, tuple(w for _, w in pipes), nonce)
        for _, w in pipes:
            os.close(w)
        try:
            return self._supervise(pid, job, [r for r, _ in pipes], nonce, start)
        except BaseException:
            _kill_group(pid)
            self._kill_leftovers(pid)
            raise
        finally:
            for r, _ in pipes:
                os.close(r)
            _empty_dir(workdir)

    def _supervise(self, pid: int, job: dict, readers: list[int], nonce: str, start: float) -> dict:
        deadline = start + job["timeout"]
        caps = dict(zip(readers, (self.tail, self.tail, 1 << 16)))  # stdout, stderr, report
        bufs = {fd: bytearray() for fd in readers}
        open_fds = set(readers)
        pidfd = os.pidfd_open(pid)
        timed_out, status, usage = False, None, None
        try:
            while status is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    _kill_group(pid)
                    break
                ready, _, _ = select.select([pidfd, *open_fds], [], [], left)
                for fd in ready:
                    if fd == pidfd:
                        _, status, usage = os.wait4(pid, 0)
                    elif not _drain(fd, bufs[fd], caps[fd]):
                        open_fds.discard(fd)
        finally:
            os.close(pidfd)
        if status is None:
            _, status, usage = os.wait4(pid, 0)
        wall = time.monotonic() - start
        _kill_group(pid)
        self._kill_leftovers(pid)
        for fd in open_fds:  # writers are dead now: read what is left, bounded anyway
            os.set_blocking(fd, False)
            try:
                for _ in range(64):
                    if not _drain(fd, bufs[fd], caps[fd]):
                        break
            except BlockingIOError:
                pass
        tails = [bytes(bufs[fd][-caps[fd]:]) for fd in readers]
        return self._verdict(status, usage, wall, timed_out, tails, nonce)

    def _kill_leftovers(self, pid: int) -> None:
        """Kill every process the program left behind, including ones that left its group."""
        if self.uid is None:
            return
        if self.pid_namespace:
            return self._kill_namespace_strays()
        reaper = os.fork()
        if reaper == 0:
            try:
                os.setuid(self.uid)
                os.kill(-1, signal.SIGKILL)  # every process of this uid, never the worker (root)
            finally:
                os._exit(0)
        os.waitpid(reaper, 0)
        _reap_zombies()

    def _kill_namespace_strays(self) -> None:
        """In our own pid namespace every process but init (1) and us is the program's."""
        me = os.getpid()
        for _ in range(200):
            _reap_zombies()
            strays = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
            strays = [p for p in strays if _alive(p)]
            if not strays:
                break
            for p in strays:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.001)
        _reap_zombies()

    def _verdict(self, status: int, usage, wall: float, timed_out: bool, tails: list[bytes],
                 nonce: str) -> dict:
        out, err, res = (t.decode("utf-8", "replace") for t in tails)
        signaled = os.WIFSIGNALED(status)
        exit_code = -os.WTERMSIG(status) if signaled else os.WEXITSTATUS(status)
        record = find_record(res, nonce)
        verdict = {"exit_code": exit_code, "wall_s": round(wall, 4),
                   "cpu_s": round(usage.ru_utime + usage.ru_stime, 4) if usage else 0.0,
                   "peak_mb": round(usage.ru_maxrss / 1024, 1) if usage else 0.0,
                   "error_type": None, "error": None, "stdout_tail": out, "stderr_tail": err}
        verdict.update(classify(timed_out, exit_code, record))
        return verdict


def _drain(fd: int, buf: bytearray, keep: int) -> bool:
    """Read what is there into buf, keeping only a bounded tail. False at end of file."""
    chunk = os.read(fd, 1 << 16)
    if not chunk:
        return False
    buf += chunk
    if len(buf) > 2 * keep:
        del buf[:-keep]
    return True


def _empty_dir(path: str) -> None:
    """rm -rf path/* without following symlinks (the program may have planted some). Its
    writers are dead by now. The dir itself stays: recreating it costs ~4 ms on overlayfs."""
    try:
        os.chmod(path, 0o700)
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                _empty_dir(entry.path)
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _reap_zombies() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _read_exact(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def send_message(fd: int, message: dict) -> None:
    """Length-prefixed marshal: builtin (no C extension to load) and fast."""
    body = marshal.dumps(message)
    _write_all(fd, len(body).to_bytes(4, "little") + body)


def read_message(fd: int) -> dict | None:
    head = _read_exact(fd, 4)
    if head is None:
        return None
    body = _read_exact(fd, int.from_bytes(head, "little"))
    return None if body is None else marshal.loads(body)


def boot(config: dict) -> None:
    """Stage one: set what must outlive exec (seccomp filter, parent-death signal, subreaper),
    then exec stage two, whose interpreter has none of ctypes/libseccomp mapped."""
    import ctypes

    libc = ctypes.CDLL(None)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphaned grandchildren come back to us
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with whoever started us
    if config.get("seccomp"):
        build_seccomp_filter().load()  # inherited by every child; the worker needs none of it
    # Stage two skips site (no .pth code runs in it) but keeps the import path site built here.
    config["sys_path"] = [p for p in sys.path if p and p != os.path.dirname(os.path.abspath(__file__))]
    os.execv(sys.executable, [sys.executable, "-I", "-B", "-S", os.path.abspath(__file__), "serve",
                              encode_config(config)])


def serve(config: dict) -> None:
    sys.path[:] = ["", *config["sys_path"]]  # [0] becomes each program's own dir
    warm_up()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host stops us; Ctrl-C goes to the host
    worker = Worker(config)
    out = os.dup(1)
    os.dup2(worker.devnull, 1)  # a stray print in the worker must not corrupt the protocol
    send_message(out, {"ready": True})
    while (job := read_message(0)) is not None:
        try:
            result = worker.run(job)
        except Exception as exc:  # report, keep serving: the host decides whether to replace us
            result = {"status": "crash", "error_type": "SandboxError", "error": repr(exc)}
        result["job"] = job["job"]
        send_message(out, result)


def encode_config(config: dict) -> str:
    return marshal.dumps(config).hex()


def main() -> None:
    stage, config = sys.argv[1], marshal.loads(bytes.fromhex(sys.argv[2]))
    boot(config) if stage == "boot" else serve(config)


if __name__ == "__main__":
    main()
