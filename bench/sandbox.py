"""Sandbox throughput: selfalign's forking workers vs one fresh python3 per sample under bubblewrap.

Both run the same fixed workloads with the same limits and 2 workers, in this process:
  mixed    passing, failing (wrong answers and exceptions), a few timeouts and crashes
  trivial  tiny passing programs (the per-sample overhead, nothing else)
and print samples/s for each and the ratio. The baseline is what a careful user would do without
this package: `bwrap <same namespaces> python3 -` per sample, rlimits set, killed at the limit.

    python bench/sandbox.py                 # 2,000 samples per workload, about 2-3 minutes
    python bench/sandbox.py --samples 500   # quicker
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import subprocess
import sys
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


def _limit_child() -> None:
    mb = 1 << 20
    for name, value in ((resource.RLIMIT_AS, LIMITS.memory_mb * mb), (resource.RLIMIT_CPU, int(LIMITS.timeout_s) + 1),
                        (resource.RLIMIT_FSIZE, LIMITS.file_size_mb * mb),
                        (resource.RLIMIT_NOFILE, LIMITS.max_open_files)):
        resource.setrlimit(name, (value, value))


def _baseline_one(argv: list[str], program: Program) -> str:
    try:
        done = subprocess.run(argv, input=(program.code + "\n\n" + program.tests).encode(),
                              capture_output=True, timeout=LIMITS.timeout_s, preexec_fn=_limit_child)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "pass" if done.returncode == 0 else "fail" if done.returncode == 1 else "crash"


def run_baseline(programs: list[Program]) -> tuple[float, collections.Counter]:
    argv = _baseline_argv()
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        counts = collections.Counter(pool.map(lambda p: _baseline_one(argv, p), programs))
    return len(programs) / (time.perf_counter() - started), counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000, help="programs per workload (default 2000)")
    args = parser.parse_args()
    why = isolation.bwrap_works()
    if why is not None:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    print(f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}; limits: "
          f"{LIMITS.timeout_s:g} s, {LIMITS.memory_mb} MiB; {WORKERS} workers each")
    print(f"{'workload':9} {'samples':>7} {'selfalign/s':>12} {'baseline/s':>11} {'ratio':>7}  selfalign verdicts")
    for name, programs in (("mixed", mixed_workload(args.samples)), ("trivial", trivial_workload(args.samples))):
        ours, counts = run_selfalign(programs)
        base, _ = run_baseline(programs)
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"{name:9} {len(programs):>7} {ours:>12.1f} {base:>11.1f} {ours / base:>6.1f}x  {verdicts}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
