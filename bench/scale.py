"""The price of the Ray executor on one machine: the same stage, local executor against Ray.

Execute (the default): bench/sandbox.py's mixed workload (passing, failing, a few timeouts and
crashes) as Response records, each run by the execute stage as two programs (the solution with
its tests, and the stub check), so ``--responses 2500`` is 5,000 programs. Each executor gets a
fresh run directory (an empty exec cache) and runs the stage's chunk tasks through its own
``run(make_stage, tasks, commit)``, the path ``pipeline._run_chunks`` takes: the local executor
in this process with one sandbox of as many workers as there are cores, the ray executor in its
execute actor (one per node, holding the node's cores: the same sandbox) on a local Ray cluster,
with the verdict cache behind the cache actor. The time counts from the first task to the last commit, actor start-up
included; starting the cluster is shown apart (a run pays it once, not per stage). Both must
write the same kept and dropped rows. ``--rounds 2`` runs local, ray, ray, local (ABBA) and
reports the medians, so a load change on a shared machine hits both.

Generation (``--generation``): the concepts stage on the embedded model over the bundled seed
corpus, the local executor (one llama.cpp model with every core's threads) against one Ray actor
per core (a model with one thread each). It loads the model once per actor and takes minutes.

    python bench/scale.py                         # execute, 2,500 responses = 5,000 programs
    python bench/scale.py --generation --seeds 16 # the generation stage on the embedded model
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sandbox import mixed_workload

from selfalign.executor import ChunkTask, get_executor
from selfalign.executor.parts import StageParts
from selfalign.records import STAGE_KINDS, Response
from selfalign.settings import load_config
from selfalign.stages.base import StageBuilder
from selfalign.stages.context import RunContext
from selfalign.store import read_records

CORES = len(os.sched_getaffinity(0))


def responses_workload(n: int) -> list[Response]:
    """bench/sandbox.py's mixed programs as the answers the execute stage runs."""
    return [Response(parent_id=f"i{k}", seed_id=f"s{k}", instruction=f"task {k}",
                     response=f"answer {k}:\n{p.code}\n{p.tests}", solution=p.code, tests=p.tests)
            for k, p in enumerate(mixed_workload(n))]


def run_stage(stage: type, executor: str, records: list, overrides: list[str],
              chunk_size: int) -> tuple[float, dict]:
    """Seconds from the first task to the last commit, and the merged counts (with the seconds
    to the first commit: start-up, the actors' included)."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"scale-{executor}-"))
    config = load_config(None, [f'run.dir="{run_dir}"', f"run.executor={executor}",
                                f"run.chunk_size={chunk_size}", *overrides])
    ctx = RunContext(config, run_dir, progress=False)
    parts = StageParts(run_dir, stage.name, chunk_size, "bench")
    items = list(enumerate(records))
    tasks = [ChunkTask(i, items[start:start + chunk_size])
             for i, start in enumerate(range(0, len(items), chunk_size))]
    commits: list[float] = []

    def commit(task: ChunkTask, outcomes: list) -> None:
        parts.commit(task, outcomes)
        commits.append(time.perf_counter())

    started = time.perf_counter()
    try:
        get_executor(executor, config.run.ray).run(StageBuilder(stage, ctx), iter(tasks), commit)
    finally:
        ctx.close()
    seconds = time.perf_counter() - started
    counts = parts.merge(STAGE_KINDS[stage.name])
    kept = sorted(r.id for r in read_records(run_dir / f"{stage.name}.jsonl", STAGE_KINDS[stage.name]))
    shutil.rmtree(run_dir)
    return seconds, {**counts, "kept_ids": kept, "first_commit_s": commits[0] - started}


def start_ray() -> float:
    """Start a local cluster with one CPU per core; return the seconds it took."""
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=CORES, include_dashboard=False, logging_level="WARNING",
             object_store_memory=200_000_000)
    return time.perf_counter() - started


def compare(label: str, unit: str, amount: int, stage: type, records: list, overrides: list[str],
            chunk_size: int, rounds: int) -> None:
    order = ["local", "ray", "ray", "local"] * (rounds // 2) + ["local", "ray"] * (rounds % 2)
    seconds: dict[str, list[float]] = {"local": [], "ray": []}
    outputs: dict[str, dict] = {}
    for executor in order:
        took, counts = run_stage(stage, executor, records, overrides, chunk_size)
        seconds[executor].append(took)
        first = counts.pop("first_commit_s")
        outputs.setdefault(executor, counts)
        print(f"  {executor:5} {amount / took:8.1f} {unit}/s  ({took:6.1f} s, first chunk at {first:4.1f} s, "
              f"kept {counts['kept']}, dropped {sum(counts['dropped'].values())})  "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
    same = outputs["local"] == outputs["ray"]
    local, ray_s = statistics.median(seconds["local"]), statistics.median(seconds["ray"])
    print(f"{label}: local {amount / local:.1f} {unit}/s, ray {amount / ray_s:.1f} {unit}/s (medians of "
          f"{len(seconds['local'])}); ray overhead {100 * (ray_s / local - 1):+.1f}% "
          f"(aim <= 15%); same kept and dropped rows: {'yes' if same else 'NO'}")


def execute_half(args: argparse.Namespace) -> None:
    from selfalign.stages.execute import ExecuteStage

    records = responses_workload(args.responses)
    programs = 2 * len(records)
    print(f"execute: {len(records)} responses = {programs} programs (solution + stub check), "
          f"chunk size {args.chunk_size}, time limit 1 s; a sandbox of {CORES} workers, local: in "
          f"this process, ray: in the node's execute actor")
    compare("execute", "programs", programs, ExecuteStage, records, ["execute.limits.timeout_s=1.0"],
            args.chunk_size, args.rounds)


def generation_half(args: argparse.Namespace) -> None:
    from selfalign.pipeline import run_pipeline
    from selfalign.stages.concepts import ConceptsStage

    base = Path(tempfile.mkdtemp(prefix="scale-seeds-"))
    run_pipeline(load_config(None, [f'run.dir="{base}"', 'run.steps=["seeds"]']), progress=False)
    seeds = list(read_records(base / "seeds.jsonl", "seed"))[:args.seeds]
    shutil.rmtree(base)
    # Ray's fair configuration on one machine is one actor holding every core, as the local model
    # does; actors of one thread each are what Ray would run across machines, shown beside it.
    configs = {"local": ("local", f"1 model x {CORES} threads", CORES, []),
               "ray": ("ray", f"1 actor x {CORES} threads", CORES,
                       ["run.ray.actors=1", f"run.ray.cpus_per_actor={CORES}"]),
               "ray-split": ("ray", f"{CORES} actors x 1 thread", 1,
                             [f"run.ray.actors={CORES}", "run.ray.cpus_per_actor=1"])}
    print(f"generation: concepts of {len(seeds)} seeds on the embedded model, chunk size "
          f"{args.gen_chunk_size}; " + "; ".join(f"{name}: {c[1]}" for name, c in configs.items()))
    seconds = {}
    for name, (executor, _, threads, extra) in configs.items():
        options = f"model.options={{n_threads = {threads}}}"
        took, counts = run_stage(ConceptsStage, executor, seeds, [options, "model.cache=false", *extra],
                                 args.gen_chunk_size)
        seconds[name] = took
        print(f"  {name:9} {len(seeds) / took:8.2f} seeds/s  ({took:6.1f} s, first chunk at "
              f"{counts['first_commit_s']:4.1f} s, kept {counts['kept']})  load {os.getloadavg()[0]:.1f}",
              flush=True)
    print(f"generation: ray overhead {100 * (seconds['ray'] / seconds['local'] - 1):+.1f}% (1 actor x "
          f"{CORES} threads against 1 model x {CORES} threads; aim <= 15%)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=2500, help="responses to execute (2 programs each)")
    parser.add_argument("--chunk-size", type=int, default=64, help="responses per chunk task (default 64)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per executor, alternated ABBA")
    parser.add_argument("--generation", action="store_true",
                        help="also run the generation half on the embedded model (minutes)")
    parser.add_argument("--generation-only", action="store_true", help="skip the execute half")
    parser.add_argument("--seeds", type=int, default=16, help="seeds for the generation half")
    parser.add_argument("--gen-chunk-size", type=int, default=2, help="seeds per generation chunk")
    args = parser.parse_args()
    print(f"{CORES} cores, load average at start {os.getloadavg()[0]:.1f}")
    print(f"ray: local cluster of {CORES} CPUs started in {start_ray():.1f} s (once per run, not counted)")
    if not args.generation_only:
        execute_half(args)
    if args.generation or args.generation_only:
        generation_half(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
