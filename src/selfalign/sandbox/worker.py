"""The long-lived worker that runs inside the isolation and forks one fresh child per program.

Started as ``python -I -B worker.py boot CONFIG`` (stage one, boot.py, sets seccomp and prctls,
then execs ``worker.py serve CONFIG``), it reads jobs on stdin and answers verdicts on stdout,
both as length-prefixed marshal. It imports only the standard library (pyseccomp in stage one),
because it runs in a read-only view of the machine where our package is not installed; boot.py,
forker.py and harness.py (and userns.py) are mounted beside it.

Inside, two processes: the supervisor (this stage's process), which talks to the host, compiles,
watches the clock, drains output and builds verdicts, and never forks; and the forker (its
loop is in forker.py), forked from it once, which holds the warm interpreter image and per
program only forks, waits and reports. Trade-off: forking from a warm interpreter makes each program cost a fork instead of an
interpreter start, at the price of every child inheriting the forker's memory image, and of a
copy-on-write page fault for every page the forker or the child writes afterwards (2-4 us each
in a VM, measured); so the image stays small (no C extensions it can avoid) and warm, and the
bookkeeping lives in the supervisor, whose pages no child shares.

How a pass is reported: per program this supervisor writes a fresh 128-bit key into the key
pipe, which no process reads; once code + tests returned normally, the harness moves it to the
report pipe with ``splice`` and exits 0. The verdict requires the key AND a clean exit, so
``sys.exit(0)``, ``os._exit(0)``, printed markers, patched builtins or a fake record end without
it, and the key is in no process's memory for a program to find. A program written to read the
harness's file descriptors can still forge a pass; the isolation still contains it (see
docs/sandbox.md).
"""

from __future__ import annotations

import marshal
import os
import resource
import select
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I does not add it
from forker import forker_loop, read_exact, read_message, send_message  # noqa: E402
from harness import classify, find_record  # noqa: E402

PRECOMPILE_MAX_CHARS = 200_000  # larger programs compile in the child, under its limits
ZOMBIE_LIMIT = 16  # userns: processes the forker inherited and never reaps; past this, a fresh worker


def _rlimits(limits: dict, timeout: float, nproc_extra: int | None) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) for a program, computed by the supervisor so the child only applies them.
    RLIMIT_NPROC counts per uid (and user namespace): set only where that count is the program's
    own processes plus ``nproc_extra`` of the worker's, never where it would be the user's."""
    mb = 1024 * 1024
    nproc = [] if nproc_extra is None else [(resource.RLIMIT_NPROC, limits["max_processes"] + nproc_extra)]
    pairs = [*nproc, (resource.RLIMIT_AS, limits["memory_mb"] * mb),
             (resource.RLIMIT_CPU, (int(timeout) + 1, int(timeout) + 2)),
             (resource.RLIMIT_FSIZE, limits["file_size_mb"] * mb),
             (resource.RLIMIT_NOFILE, limits["max_open_files"]), (resource.RLIMIT_CORE, 0)]
    return [(name, *(value if isinstance(value, tuple) else (value, value))) for name, value in pairs]


def _precompile(source: str) -> bytes | None:
    """The program compiled here (marshal of the code object), or None to let the child compile
    it: too big to compile outside the child's limits, a syntax error, or a compiler warning,
    which the child then prints on its own stderr as Python would."""
    import warnings  # here, not at the top: the forker's image (every child's) does not need it

    if len(source) > PRECOMPILE_MAX_CHARS:
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = compile(source, "<program>", "exec", dont_inherit=True)
        except BaseException:  # SyntaxError, ValueError (null bytes), RecursionError, ...
            return None
    return None if caught else marshal.dumps(code)


class Worker:
    """One isolated slot: runs jobs one after another, each in a fresh child of its forker.

    Two processes: this supervisor, which never forks (so its pages are never shared
    copy-on-write with a child and its bookkeeping costs no page faults), and a forker started
    once, which holds the warm interpreter image and does nothing but fork, wait and report.
    Measured: the single-process worker took ~170 page faults per program for its own
    bookkeeping, each a few microseconds in a VM; the forker's loop takes a few dozen.

    The children's stdout, stderr and report go to three pipes that live as long as the worker:
    the forker holds the write ends, this supervisor drains the read ends. Output is attributed
    to a program because everything the program left behind is killed before the final drain.
    """

    def __init__(self, config: dict, host_fds: tuple[int, ...] = ()):
        self.uid: int | None = config.get("uid")
        self.tmp_root: str = config["tmp_root"]
        self.pid_namespace: bool = config.get("pid_namespace", False)
        self.userns: bool = config.get("userns", False)
        self.tail = int(config.get("tail_bytes", 4096))
        self.devnull = os.open(os.devnull, os.O_RDWR)
        os.makedirs(self.tmp_root, mode=0o711, exist_ok=True)
        # made by run(); the userns forker, started by boot, learnt it from boot
        self.workdir = config.get("workdir") or f"{self.tmp_root}/w{os.getpid()}-{os.urandom(4).hex()}"
        os.environ.update(HOME=self.workdir, TMPDIR=self.workdir)  # inherited by every child
        sys.path[0] = self.workdir
        outputs = [os.pipe() for _ in range(3)]  # stdout, stderr, report of every child
        self.key_r, self.key_w = os.pipe()  # each program's pass key, for its harness to splice
        os.set_blocking(self.key_r, False)  # a shared flag: nothing ever waits on an empty key pipe
        jobs, replies = os.pipe(), os.pipe()
        forker_args = (jobs[0], replies[1], (self.devnull, *(w for _, w in outputs), self.key_r))
        if self.userns:  # boot started the forker in the programs' namespace; it waits for its pipes
            from userns import hand_over

            self.forker = config["forker_pid"]
            hand_over(config["handoff"], forker_args)
        else:
            self.forker = os.fork()
            if self.forker == 0:
                for fd in (*host_fds, *(r for r, _ in outputs), jobs[1], replies[0], self.key_w):
                    os.close(fd)
                os.dup2(self.devnull, 0)
                forker_loop(*forker_args, self.uid)
        # userns: the forker reports pids of the programs' namespace, which mean other processes
        # here; everything in that namespace but the forker is the current program's, so a kill
        # of "the child" is a kill of all of it. Programs share the worker's uid, so their
        # RLIMIT_NPROC (counted per uid and user namespace) also counts the worker's processes.
        self._kill_child = self._kill_namespace_strays_of if self.userns else _kill_child
        self.zombies = 0
        self.nproc_extra = _count_pids() if self.userns else 0 if self.uid is not None else None
        for fd in (*(w for _, w in outputs), jobs[0], replies[1]):
            os.close(fd)
        self.readers = [r for r, _ in outputs]
        for fd in self.readers:
            os.set_blocking(fd, False)
        self.jobs, self.replies = jobs[1], replies[0]

    def run(self, job: dict) -> dict:
        key = os.urandom(16)
        while _drain(self.key_r, bytearray(), 16):  # a key the last program never took
            pass
        os.write(self.key_w, key)
        os.makedirs(self.workdir, 0o700, exist_ok=True)
        os.chmod(self.workdir, 0o700)  # the previous program owned it and may have changed that
        if self.uid is not None:
            os.chown(self.workdir, self.uid, self.uid)
        source = job["code"] + "\n\n" + job.get("tests", "")
        message = {"source": source, "compiled": _precompile(source),
                   "limits": _rlimits(job["limits"], job["timeout"], self.nproc_extra),
                   "workdir": self.workdir}
        start = time.monotonic()
        send_message(self.jobs, message)
        pid = self._reply(8)[0]
        try:
            return self._supervise(pid, job, key, start)
        except BaseException:
            self._kill_child(pid)
            self._kill_leftovers()
            raise
        finally:
            _empty_dir(self.workdir)

    def _reply(self, size: int) -> list[int]:
        """The forker's fixed-size replies: the child's pid (8 bytes) right after the fork, then
        its wait status, CPU microseconds and peak KiB (24 bytes) once it is reaped."""
        data = read_exact(self.replies, size)
        if data is None:
            raise ForkerDied("the forker process died")
        return [int.from_bytes(data[i:i + 8], "little") for i in range(0, size, 8)]

    def _supervise(self, pid: int, job: dict, key: bytes, start: float) -> dict:
        deadline = start + job["timeout"]
        caps = dict(zip(self.readers, (self.tail, self.tail, 1 << 16)))  # stdout, stderr, report
        bufs = {fd: bytearray() for fd in self.readers}
        watched = [self.replies, *self.readers]
        timed_out, done = False, None
        while done is None:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                self._kill_child(pid)
                break
            ready, _, _ = select.select(watched, [], [], left)
            for fd in ready:
                if fd == self.replies:
                    done = self._reply(24)
                else:
                    _drain(fd, bufs[fd], caps[fd])
        if done is None:
            done = self._reply(24)  # the forker reaps the killed child at once
        wall = time.monotonic() - start
        self._kill_child(pid)
        self._kill_leftovers()
        for fd in self.readers:  # every writer but the (silent) forker is dead: read what is left
            while _drain(fd, bufs[fd], caps[fd]):
                pass
        tails = [bytes(bufs[fd][-caps[fd]:]) for fd in self.readers]
        return self._verdict(done, wall, timed_out, tails, key)

    def _kill_leftovers(self) -> None:
        """Kill every process the program left behind, including ones that left its group."""
        if self.pid_namespace:
            return self._kill_namespace_strays()
        if self.uid is None:
            return
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
        """In our own pid namespace every process but init (1), us and the forker is the program's."""
        keep = {1, os.getpid(), self.forker}
        for _ in range(200):
            _reap_zombies()
            others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in keep]
            strays = [p for p in others if _alive(p)]
            if not strays:
                break
            for p in strays:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.001)
        _reap_zombies()
        if self.userns:  # what is left are zombies the forker (their init) inherited and keeps
            self.zombies = len(others) - len(strays)
            self.nproc_extra = len(keep) + len(others)

    def _kill_namespace_strays_of(self, _pid: int) -> None:
        self._kill_namespace_strays()

    def worn_out(self) -> bool:
        """Too many zombies kept by the forker (each costs a pid and a /proc read per program)."""
        return self.zombies >= ZOMBIE_LIMIT

    def _verdict(self, done: list[int], wall: float, timed_out: bool, tails: list[bytes], key: bytes) -> dict:
        out, err, res = (t.decode("utf-8", "replace") for t in tails)
        passed = key in tails[2]
        status, cpu_us, peak_kb = done
        signaled = os.WIFSIGNALED(status)
        exit_code = -os.WTERMSIG(status) if signaled else os.WEXITSTATUS(status)
        record = find_record(res)
        verdict = {"exit_code": exit_code, "wall_s": round(wall, 4), "cpu_s": round(cpu_us / 1e6, 4),
                   "peak_mb": round(peak_kb / 1024, 1),
                   "error_type": None, "error": None, "stdout_tail": out, "stderr_tail": err}
        verdict.update(classify(timed_out, exit_code, passed, record))
        return verdict


class ForkerDied(RuntimeError):
    pass


def _drain(fd: int, buf: bytearray, keep: int) -> bool:
    """Read what is there into buf, keeping only a bounded tail. False once nothing is left."""
    try:
        chunk = os.read(fd, 1 << 16)
    except BlockingIOError:
        return False
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


def _kill_child(pid: int) -> None:
    """SIGKILL the child's process group (its own, from setsid) and the child itself."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
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


def serve(config: dict) -> None:
    if config.get("userns"):
        import userns  # noqa: F401  (Worker's; found before sys.path becomes the programs')
    sys.path[:] = ["", *config["sys_path"]]  # [0] becomes each program's own dir
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host stops us; Ctrl-C goes to the host
    out, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # a stray print must not corrupt the protocol
    os.close(null)
    worker = Worker(config, host_fds=(out,))
    send_message(out, {"ready": True})
    while (job := read_message(0)) is not None:
        try:
            result = worker.run(job)
        except ForkerDied:
            sys.exit(3)  # the host replaces this worker and retries the program once
        except Exception as exc:  # report, keep serving: the host decides whether to replace us
            result = {"status": "crash", "error_type": "SandboxError", "error": repr(exc)}
        result["job"] = job["job"]
        if worker.worn_out():
            result["retire"] = True  # the host replaces us and re-sends what it queued here
        send_message(out, result)
        if result.get("retire"):
            break


def _count_pids() -> int:
    return sum(1 for p in os.listdir("/proc") if p.isdigit())


def main() -> None:
    stage, config = sys.argv[1], marshal.loads(bytes.fromhex(sys.argv[2]))
    if stage in ("forker", "probe"):  # the user-namespace level's own stages
        import userns

        return getattr(userns, stage)(config)
    if stage == "boot":
        from boot import boot  # stage one's own module: never mapped in the serving stage

        return boot(config)
    serve(config)


if __name__ == "__main__":
    main()
