"""Verdict agreement with EvalPlus: the same greedy samples scored by selfalign and by EvalPlus's
own evaluator (``evalplus==0.3.1``, the dev extra), task by task, base and plus tests.

1. Generate (or reuse) greedy samples with ``selfalign eval --benchmark humaneval+ --benchmark
   mbpp+ -o DIR/ours`` on the embedded model or ``--model PATH``.
2. Score them with ``selfalign eval --samples`` at the default per-test floor (0.25 CPU-s,
   DIR/ours-default) and at each ``--floors`` value (default 1 and 4 s), to count the
   correct-but-slow solutions the default floor costs.
3. Write them in EvalPlus's sample format (``{"task_id", "solution"}``: the full program) and run
   ``python -m evalplus.evaluate`` on them, offline: ``HUMANEVAL_OVERRIDE_PATH`` /
   ``MBPP_OVERRIDE_PATH`` (read at import by ``evalplus.data.humaneval`` / ``.mbpp`` in 0.3.x)
   point at the decompressed release files under ../shared/data/benchmarks (HumanEval+ v0.1.10,
   MBPP+ v0.2.0, the versions 0.3.1 downloads), and XDG_CACHE_HOME moves its ground-truth cache
   under DIR/.. so nothing is fetched or written elsewhere. EvalPlus runs with its defaults
   (1 s wall floor per input, 4x the reference time) and ``--parallel`` workers.
4. Print per-problem agreement (base: base tests pass; plus: base and plus tests pass), and list
   every disagreement with the task id, both verdicts and both first failures.

A task missing from the samples (a partial run) is given an empty solution for EvalPlus, which
insists on every task, and left out of the comparison.

    python bench/agreement.py                               # embedded model, ~15-25 min on 2 cores
    python bench/agreement.py --model "$(../shared/tools/get-qwen-coder-0.5b.sh)"
    python bench/agreement.py --model PATH --benchmark mbpp+          # one benchmark
    python bench/agreement.py --skip-generate -o runs/agreement/NAME   # rescore and compare only

Each benchmark's section names the model that generated its samples, read from the samples'
``.meta.json`` (or, for files older than meta files, the ``eval-config.toml`` beside them), not
from the command line, so a rescore of another model's samples is labelled by that model.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from selfalign.benchmarks import benchmark_dir

ROOT = Path(__file__).resolve().parent.parent
# benchmark -> (evalplus dataset name, its override variable, release file, decompressed name)
EVALPLUS = {
    "humaneval+": ("humaneval", "HUMANEVAL_OVERRIDE_PATH", "HumanEvalPlus-v0.1.10.jsonl.gz",
                   "HumanEvalPlus-v0.1.10.jsonl"),
    "mbpp+": ("mbpp", "MBPP_OVERRIDE_PATH", "MbppPlus-v0.2.0.jsonl.gz", "MbppPlus-v0.2.0.jsonl"),
}


def stem(benchmark: str) -> str:
    return benchmark.replace("+", "plus")


def selfalign_eval(args: list[str], log: Path) -> None:
    """``python -m selfalign eval ARGS``; its output goes to ``log``."""
    with open(log, "a", encoding="utf-8") as out:
        done = subprocess.run([sys.executable, "-m", "selfalign", "eval", *args, "--no-progress"],
                              stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"selfalign eval {' '.join(args)} failed ({done.returncode}); see {log}")


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def data_dir() -> Path:
    found = benchmark_dir()
    if found is None:
        sys.exit("benchmark files not found: set SELFALIGN_BENCHMARK_DIR (see ../shared/data/benchmarks)")
    return found


def task_ids(benchmark: str) -> list[str]:
    with gzip.open(data_dir() / EVALPLUS[benchmark][2], "rt", encoding="utf-8") as handle:
        return [json.loads(line)["task_id"] for line in handle if line.strip()]


def our_verdicts(path: Path) -> dict[str, dict]:
    """task id -> the verdict row of sample 0."""
    return {row["task_id"]: row for row in read_jsonl(path) if row["sample"] == 0}


def evalplus_data(cache: Path) -> dict[str, str]:
    """Override variables -> decompressed release files (EvalPlus hashes the plain JSONL)."""
    env = {}
    for _, variable, gz_name, plain in EVALPLUS.values():
        target = cache / plain
        if not target.exists():
            with gzip.open(data_dir() / gz_name, "rb") as src, open(target.with_suffix(".tmp"), "wb") as dst:
                shutil.copyfileobj(src, dst)
            target.with_suffix(".tmp").rename(target)
        env[variable] = str(target)
    return env


def run_evalplus(benchmark: str, samples: Path, out_dir: Path, cache: Path, parallel: int) -> dict[str, dict]:
    """EvalPlus's verdicts on sample 0 of each task: task id -> its result row."""
    dataset = EVALPLUS[benchmark][0]
    ids = task_ids(benchmark)
    rows = {row["task_id"]: row["solution"] for row in read_jsonl(samples) if row.get("sample", 0) == 0}
    file = out_dir / f"{stem(benchmark)}.jsonl"
    with open(file, "w", encoding="utf-8") as handle:
        for task_id in ids:
            handle.write(json.dumps({"task_id": task_id, "solution": rows.get(task_id, "")}) + "\n")
    result = file.with_name(file.stem + "_eval_results.json")
    result.unlink(missing_ok=True)   # evalplus would reuse it, or ask on stdin with --i-just-wanna-run
    env = {**os.environ, **evalplus_data(cache), "XDG_CACHE_HOME": str(cache)}
    log = out_dir / f"{stem(benchmark)}.evalplus.log"
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        done = subprocess.run([sys.executable, "-m", "evalplus.evaluate", "--dataset", dataset,
                               "--samples", str(file), "--parallel", str(parallel)],
                              stdout=out, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
    if done.returncode != 0 or not result.exists():
        sys.exit(f"evalplus failed on {benchmark} ({done.returncode}); see {log}")
    print(f"  evalplus scored {benchmark} in {time.perf_counter() - start:.0f} s (log: {log})")
    data = json.loads(result.read_text(encoding="utf-8"))
    return {tid: res[0] for tid, res in data["eval"].items() if tid in rows}


def verdict_pair(ours: dict, theirs: dict) -> tuple[tuple[bool, bool], tuple[bool, bool]]:
    """((ours base, ours plus), (evalplus base, evalplus plus)); plus means base and plus tests."""
    base = theirs["base_status"] == "pass"
    return (ours["base_passed"], ours["passed"]), (base, base and theirs["plus_status"] == "pass")


def describe_ours(row: dict) -> str:
    if row["passed"]:
        return "pass"
    f = row.get("failure") or {}
    return f"{row['status']} at {f.get('phase')}[{f.get('index')}] {f.get('reason')}: {str(f.get('detail'))[:160]}"


def describe_theirs(row: dict) -> str:
    failed = row.get("base_fail_tests") or row.get("plus_fail_tests") or []
    shown = json.dumps(failed[-1])[:160] if failed else ""
    return f"base {row['base_status']}, plus {row['plus_status']}" + (f"; failing input {shown}" if shown else "")


def compare(benchmark: str, ours: dict[str, dict], theirs: dict[str, dict]) -> dict:
    tasks = sorted(set(ours) & set(theirs), key=lambda t: int(t.rsplit("/", 1)[1]))
    agree = {"base": 0, "plus": 0}
    passes = {"ours": [0, 0], "evalplus": [0, 0]}
    disagreements = []
    for task in tasks:
        mine, other = verdict_pair(ours[task], theirs[task])
        for k, name in enumerate(("base", "plus")):
            agree[name] += mine[k] == other[k]
            passes["ours"][k] += mine[k]
            passes["evalplus"][k] += other[k]
        if mine != other:
            disagreements.append((task, mine, other))
    n = len(tasks)
    print(f"\n{benchmark}: {n} tasks; pass@1 base / plus: selfalign {100 * passes['ours'][0] / n:.1f} / "
          f"{100 * passes['ours'][1] / n:.1f}, evalplus {100 * passes['evalplus'][0] / n:.1f} / "
          f"{100 * passes['evalplus'][1] / n:.1f}")
    print(f"  agreement: base {agree['base']}/{n} ({100 * agree['base'] / n:.1f}%), "
          f"plus {agree['plus']}/{n} ({100 * agree['plus'] / n:.1f}%); {len(disagreements)} disagreements")
    fmt = lambda v: f"base {'pass' if v[0] else 'FAIL'}, plus {'pass' if v[1] else 'FAIL'}"
    for task, mine, other in disagreements:
        print(f"  {task}: selfalign {fmt(mine)} | evalplus {fmt(other)}")
        print(f"      selfalign: {describe_ours(ours[task])}")
        print(f"      evalplus:  {describe_theirs(theirs[task])}")
    return {"tasks": n, "agree": agree, "passes": passes, "disagreements": [d[0] for d in disagreements]}


def floor_effect(benchmark: str, default: dict[str, dict], rescored: dict[float, dict[str, dict]]) -> None:
    """Tasks that pass with a higher floor but not at the default: correct but slow."""
    for floor, verdicts in sorted(rescored.items()):
        gained = [t for t in default if verdicts.get(t, {}).get("passed") and not default[t]["passed"]]
        lost = [t for t in default if default[t]["passed"] and not verdicts.get(t, {}).get("passed")]
        base_gained = [t for t in default
                       if verdicts.get(t, {}).get("base_passed") and not default[t]["base_passed"]]
        print(f"  floor {floor:g} s vs the default: plus +{len(gained)} {gained[:12]}, base +{len(base_gained)} "
              f"{base_gained[:12]}, lost {len(lost)} {lost[:12]}")


def samples_model(samples: Path) -> str:
    """The model that generated ``samples``, as its meta file records it (name and fingerprint)."""
    meta = samples.with_name(samples.name.replace(".jsonl", ".meta.json"))
    if not meta.exists():   # samples from before meta files: the settings saved beside them
        config = samples.with_name("eval-config.toml")
        if not config.exists():
            return "unknown (no meta file or eval-config.toml beside the samples)"
        model = tomllib.loads(config.read_text(encoding="utf-8")).get("model", {}).get("model", "")
        return f"{model or 'the embedded SmolLM2-135M-Instruct Q4_1'} (from eval-config.toml; no meta file)"
    model = json.loads(meta.read_text(encoding="utf-8")).get("identity", {}).get("model", {})
    return f"{model.get('name', '?')} ({model.get('fingerprint', 'no fingerprint')})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="GGUF file (default: the embedded SmolLM2-135M)")
    parser.add_argument("--benchmark", action="append", dest="benchmarks", choices=sorted(EVALPLUS),
                        help="repeatable; default both")
    parser.add_argument("-o", "--output", help="directory (default runs/agreement/<model name>)")
    parser.add_argument("--floors", default="1,4", help="extra per-test floors to rescore at, seconds")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1, help="EvalPlus workers")
    parser.add_argument("--skip-generate", action="store_true", help="use the samples already in DIR/ours")
    args = parser.parse_args()
    benchmarks = args.benchmarks or ["humaneval+", "mbpp+"]
    name = Path(args.model).stem if args.model else "smollm2-135m-embedded"
    out = Path(args.output or ROOT / "runs" / "agreement" / name).resolve()
    ours_dir, theirs_dir = out / "ours", out / "evalplus"
    for folder in (ours_dir, theirs_dir):
        folder.mkdir(parents=True, exist_ok=True)
    cache = out.parent / "evalplus-cache"
    cache.mkdir(exist_ok=True)
    given = args.model or ("none given: the samples' own" if args.skip_generate else "the embedded SmolLM2-135M")
    print(f"model: {given}; output {out}; load average {os.getloadavg()[0]:.1f}")
    if not args.skip_generate:
        start = time.perf_counter()
        model = ["--model", args.model] if args.model else []
        selfalign_eval([*model, *sum((["--benchmark", b] for b in benchmarks), []), "-o", str(ours_dir)],
                       out / "generate.log")
        print(f"generated and scored with selfalign in {time.perf_counter() - start:.0f} s")
    floors = [float(f) for f in args.floors.split(",") if f]
    summary = {}
    for benchmark in benchmarks:
        samples = ours_dir / f"{stem(benchmark)}.samples.jsonl"
        print(f"\n{benchmark} samples generated by {samples_model(samples)}; load average "
              f"{os.getloadavg()[0]:.1f}")
        have = {row["task_id"] for row in read_jsonl(samples)}
        partial = ["--allow-partial"] if set(task_ids(benchmark)) - have else []
        if partial:
            print(f"  {benchmark}: samples for {len(have)} of {len(task_ids(benchmark))} tasks (partial run)")
        # Score (again) with the code as it is now, so every floor is judged by the same scorer.
        selfalign_eval(["--samples", str(samples), "--benchmark", benchmark, "-o", str(out / "ours-default"),
                        *partial], out / "rescore.log")
        ours = our_verdicts(out / "ours-default" / f"{stem(benchmark)}.verdicts.jsonl")
        if not ours:
            sys.exit(f"selfalign scored no {benchmark} sample; see {out / 'rescore.log'}")
        rescored = {}
        for floor in floors:
            folder = out / f"ours-floor-{floor:g}"
            selfalign_eval(["--samples", str(samples), "--benchmark", benchmark, "-o", str(folder),
                            "--min-time-limit", str(floor), *partial], out / "rescore.log")
            rescored[floor] = our_verdicts(folder / f"{stem(benchmark)}.verdicts.jsonl")
        theirs = run_evalplus(benchmark, samples, theirs_dir, cache, args.parallel)
        summary[benchmark] = compare(benchmark, ours, theirs)
        floor_effect(benchmark, ours, rescored)
        for floor, verdicts in sorted(rescored.items()):
            agree = sum(verdict_pair(verdicts[t], theirs[t])[0] == verdict_pair(verdicts[t], theirs[t])[1]
                        for t in theirs if t in verdicts)
            print(f"  at floor {floor:g} s: {agree}/{len(theirs)} tasks agree with evalplus on both verdicts")
    (out / "agreement.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
