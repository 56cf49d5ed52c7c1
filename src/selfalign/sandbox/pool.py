"""The Sandbox: a pool of isolated workers that turns a stream of Programs into verdicts, in order.

One host thread drives everything with select(): it pulls programs lazily (at most `lookahead`
ahead of the oldest unanswered one, so memory stays flat over any number of programs), answers
from the SQLite cache when it can, hands the rest to idle workers, and yields results strictly in
input order. Each worker enforces its programs' time limits itself; the host keeps a second,
looser deadline per job and replaces a worker that misses it or dies, so no sample can hang a run.

Trade-off: in-order output means one slow program holds back the yield of later finished ones
(up to `lookahead` of them), which is what lets callers zip results back onto their inputs.
"""

from __future__ import annotations

import collections
import fcntl
import marshal
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from selfalign.sandbox import isolation
from selfalign.sandbox.cache import VerdictCache
from selfalign.sandbox.verdict import ExecResult, Limits, Program, cache_key, effective_timeout

# Programs pulled ahead of the oldest unanswered one, per worker: enough that a 1 s timeout at
# the head of the line leaves no worker idle (~300 programs/s per worker), few enough that
# memory stays flat (measured: 20.7 MiB host RSS over 20,000 programs with 2 workers).
LOOKAHEAD_PER_WORKER = 512
READ_CHUNK = 1 << 16  # a 1 MiB read buffer is an mmap + munmap per read (measured ~50 us)
PIPELINE_DEPTH = 2  # jobs queued per worker, so it never idles waiting for the host
PIPELINED_MAX_CHARS = 100_000  # a queued job must fit in the pipe buffer (1 MiB) with room
HOST_MARGIN_S = 3.0  # beyond the program's own limit, before the host declares a worker stuck
STARTUP_GRACE_S = 20.0  # a fresh worker (bwrap + interpreter) gets this much more for its first job
MAX_FAILED_STARTS = 3  # consecutive workers dying before "ready": a set-up problem, not bad luck


class SandboxError(RuntimeError):
    pass


@dataclass
class _Job:
    serial: int
    index: int
    timeout: float
    attempts: int
    deadline: float = float("inf")  # set when the job reaches the head of its worker's queue


class _Worker:
    """Host-side handle of one worker process speaking length-prefixed marshal over stdin/stdout."""

    def __init__(self, argv: list[str], env: dict, cwd: str):
        config = isolation.decode_config(argv[-1])
        self.cpu: int | None = config.get("cpu")
        # Without a pid namespace, killing the worker does not kill its programs (own sessions):
        # remember their uid so kill() can.
        self.stray_uid = None if config["pid_namespace"] else config["uid"]
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, env=env, cwd=cwd, start_new_session=True)
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:  # room for queued jobs and big verdicts without blocking either side
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
            except (OSError, AttributeError):
                pass
        self.pending = b""
        self.ready = False
        self.jobs: collections.deque[_Job] = collections.deque()  # sent, unanswered; head is running

    def send(self, payload: dict) -> None:
        body = marshal.dumps(payload)  # the worker's protocol: 4-byte length + marshal
        self.proc.stdin.write(len(body).to_bytes(4, "little") + body)
        self.proc.stdin.flush()

    def receive(self) -> list[dict] | None:
        """Complete messages read so far; None once the worker has closed its end."""
        try:
            chunk = os.read(self.fd, READ_CHUNK)
        except BlockingIOError:
            return []
        if not chunk:
            return None
        self.pending += chunk
        messages = []
        while len(self.pending) >= 4:
            size = int.from_bytes(self.pending[:4], "little")
            if len(self.pending) < 4 + size:
                break
            messages.append(marshal.loads(self.pending[4:4 + size]))
            self.pending = self.pending[4 + size:]
        return messages

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-2000:].decode("utf-8", "replace")

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.proc.wait()
        if self.stray_uid is not None:
            _kill_uid(self.stray_uid)
        self.last_stderr = self.stderr_tail()
        self.stderr.close()


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of `uid`: a child that becomes that uid and kills -1 (root only)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)  # all processes of this uid except the caller
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


class Sandbox:
    """Run untrusted programs isolated, in parallel, with a verdict for every one. See docs/sandbox.md."""

    def __init__(self, limits: Limits = Limits(), workers: int | None = None,
                 cache_path: str | os.PathLike | None = None, isolation: str = "auto",
                 pin_cpus: bool = True, cache: VerdictCache | None = None):
        self.limits = limits
        self.pin_cpus = pin_cpus
        self.n_workers = max(1, workers or len(os.sched_getaffinity(0)))
        self.isolation = isolation_level(isolation)  # the level every verdict names
        # ``cache``: any object with VerdictCache's get/put/flush/close (a Ray worker's client of
        # the driver-side cache), instead of the SQLite file at ``cache_path``
        self.cache = cache if cache is not None else (VerdictCache(cache_path) if cache_path is not None else None)
        self.lookahead = LOOKAHEAD_PER_WORKER * self.n_workers
        self.workers: list[_Worker] = []
        self.tmp_root: str | None = None
        self.serial = 0
        self.failed_starts = 0  # consecutive workers that died before saying ready

    # ---- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for worker in self.workers:
            worker.kill()
        self.workers.clear()
        if self.cache is not None:
            self.cache.flush()
        if self.tmp_root is not None:
            shutil.rmtree(self.tmp_root, ignore_errors=True)
            self.tmp_root = None

    def _spawn(self) -> _Worker:
        in_bwrap = self.isolation.startswith("bwrap")  # then programs live in the worker's tmpfs
        if self.tmp_root is None and not in_bwrap:
            self.tmp_root = tempfile.mkdtemp(prefix="selfalign-sandbox-")
            os.chmod(self.tmp_root, 0o711)  # children (other uid) reach their own dir, list nothing
        tmpfs_mb = max(64, 4 * self.limits.file_size_mb)
        argv, env = isolation.worker_command(self.isolation, self.tmp_root or "/",
                                             self.limits.output_tail_bytes, tmpfs_mb, self._pick_cpu())
        return _Worker(argv, env, self.tmp_root or "/")

    def _pick_cpu(self) -> int | None:
        """The allowed CPU with the fewest of our workers on it, or None (pinning off, one CPU).
        Pinned, a worker's supervisor, forker and programs stay on one core's caches; measured
        on 2 cores: +20% trivial programs/s idle, +30-40% while an LLM generation ran beside it."""
        cpus = sorted(os.sched_getaffinity(0))
        if not self.pin_cpus or len(cpus) < 2:
            return None
        used = collections.Counter(w.cpu for w in self.workers)
        return min(cpus, key=lambda cpu: (used[cpu], cpu))

    # ---- the stream --------------------------------------------------------------------
    def run(self, programs: Iterable[Program]) -> Iterator[tuple[Program, ExecResult]]:
        """Yield (program, result) in input order; consumes `programs` lazily. One run at a time
        per Sandbox: a run abandoned without closing its generator is cleaned up here."""
        self._abandon()
        if isinstance(programs, (list, tuple)) and hasattr(self.cache, "prefetch"):
            # a remote cache answers a whole batch in one round trip instead of one per program
            self.cache.prefetch([cache_key(p, self.limits, self.isolation) for p in programs])
        source = iter(programs)
        window: dict[int, list] = {}  # index -> [program, cache key, result or None]
        todo: collections.deque[tuple[int, int]] = collections.deque()  # (index, attempts)
        next_in = next_out = 0
        exhausted = False
        try:
            while True:
                while not exhausted and next_in - next_out < self.lookahead:
                    program = next(source, None)
                    if program is None:
                        exhausted = True
                        break
                    self._admit(next_in, program, window, todo)
                    next_in += 1
                while next_out in window and window[next_out][2] is not None:
                    program, _, result = window.pop(next_out)
                    next_out += 1
                    yield program, result
                if exhausted and next_out == next_in:
                    return
                self._dispatch(window, todo)
                self._wait(window, todo)
        finally:
            self._abandon()

    def _admit(self, index: int, program: Program, window: dict, todo: collections.deque) -> None:
        if not isinstance(program, Program):
            raise TypeError(f"Sandbox.run expects Program objects, got {type(program).__name__}")
        key = hit = None
        if self.cache is not None:
            key = cache_key(program, self.limits, self.isolation)
            hit = self.cache.get(key)
        window[index] = [program, key, hit]
        if hit is None:
            todo.append((index, 0))

    def _dispatch(self, window: dict, todo: collections.deque) -> None:
        while len(self.workers) < self.n_workers and todo:
            self.workers.append(self._spawn())
        for depth in range(PIPELINE_DEPTH):  # fill every worker's first slot before second slots
            for worker in self.workers:
                if len(worker.jobs) == depth and todo and (depth == 0 or self._small(todo[0], window)):
                    self._send(worker, *todo.popleft(), window)

    @staticmethod
    def _small(entry: tuple[int, int], window: dict) -> bool:
        """Queue behind a running job only what fits in the pipe, so a write never blocks on a
        worker that is busy (or frozen)."""
        program = window[entry[0]][0]
        return len(program.code) + len(program.tests) < PIPELINED_MAX_CHARS

    def _send(self, worker: _Worker, index: int, attempts: int, window: dict) -> None:
        program = window[index][0]
        self.serial += 1
        job = _Job(self.serial, index, effective_timeout(program, self.limits), attempts)
        worker.jobs.append(job)
        if len(worker.jobs) == 1:
            self._start_clock(worker)
        try:
            worker.send({"job": job.serial, "code": program.code, "tests": program.tests,
                         "timeout": job.timeout, "limits": self.limits.to_dict()})
        except OSError:  # it died: select() reports the end of its output, and the job is re-sent
            pass

    def _start_clock(self, worker: _Worker) -> None:
        head = worker.jobs[0]
        grace = 0.0 if worker.ready else STARTUP_GRACE_S
        head.deadline = time.monotonic() + head.timeout + HOST_MARGIN_S + grace

    def _wait(self, window: dict, todo: collections.deque) -> None:
        busy = [w for w in self.workers if w.jobs]
        if not busy:
            return
        left = min(w.jobs[0].deadline for w in busy) - time.monotonic()
        ready, _, _ = select.select([w.fd for w in busy], [], [], max(0.0, left))
        for worker in busy:
            if worker.fd in ready:
                self._receive(worker, window, todo)
        now = time.monotonic()
        for worker in [w for w in self.workers if w.jobs and w.jobs[0].deadline < now]:
            stuck = worker.jobs.popleft()
            self._finish(stuck, _host_verdict("timeout", "Timeout",
                                              "worker missed its deadline and was replaced"), window)
            self._requeue(worker, todo)
            self._retire(worker)

    def _receive(self, worker: _Worker, window: dict, todo: collections.deque) -> None:
        messages = worker.receive()
        if messages is None:
            return self._worker_died(worker, window, todo)
        for message in messages:
            if message.get("ready"):
                worker.ready = True
                self.failed_starts = 0
            elif worker.jobs and message.get("job") == worker.jobs[0].serial:
                job = worker.jobs.popleft()
                del message["job"]
                retire = message.pop("retire", False)
                self._finish(job, message, window)
                if retire:  # worn out (docs/sandbox.md): jobs queued on it go back to the line
                    self._requeue(worker, todo)
                    self._retire(worker)
                    return
                if worker.jobs:
                    self._start_clock(worker)

    def _requeue(self, worker: _Worker, todo: collections.deque) -> None:
        """Jobs queued behind the head were not at fault: they go back to the front of the line."""
        while worker.jobs:
            job = worker.jobs.pop()
            todo.appendleft((job.index, job.attempts))

    def _worker_died(self, worker: _Worker, window: dict, todo: collections.deque) -> None:
        head = worker.jobs.popleft() if worker.jobs else None
        self._requeue(worker, todo)
        self._retire(worker)
        if not worker.ready:
            self.failed_starts += 1
            if self.failed_starts >= MAX_FAILED_STARTS:
                raise SandboxError(f"sandbox worker ({self.isolation}) failed to start "
                                   f"{self.failed_starts} times; last error: {worker.last_stderr}")
        if head is not None and head.attempts == 0:
            todo.appendleft((head.index, 1))  # one retry: the death may have been the host's doing
        elif head is not None:
            self._finish(head, _host_verdict("crash", "SandboxError", "worker died twice on this program"),
                         window)

    def _finish(self, job: _Job, verdict: dict, window: dict) -> None:
        result = ExecResult(**{**_host_verdict("crash", None, None), **verdict}, isolation=self.isolation)
        entry = window[job.index]
        entry[2] = result
        if self.cache is not None and result.error_type != "SandboxError":
            self.cache.put(entry[1], result)

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        self.workers.remove(worker)

    def _abandon(self) -> None:
        """The consumer stopped early: workers still busy would answer stale jobs, so drop them."""
        for worker in [w for w in self.workers if w.jobs]:
            self._retire(worker)
        if self.cache is not None:
            self.cache.flush()


def isolation_level(mode: str = "auto") -> str:
    """The level a Sandbox(isolation=mode) would run at here, or SandboxError saying why none
    can and how to fix that: callers check it before spending time on work the sandbox needs."""
    try:
        return isolation.resolve(mode)
    except isolation.IsolationUnavailable as exc:
        raise SandboxError(str(exc)) from None


def _host_verdict(status: str, error_type: str | None, error: str | None) -> dict:
    return {"status": status, "exit_code": None, "wall_s": 0.0, "cpu_s": 0.0, "peak_mb": 0.0,
            "error_type": error_type, "error": error, "stdout_tail": "", "stderr_tail": ""}
