"""One evaluation run: for each benchmark, load problems, generate or read samples, score, report.

Outputs, in one directory: ``<bench>.samples.jsonl`` (resumable, with its identity sidecar
``<bench>.samples.meta.json``), ``<bench>.verdicts.jsonl`` (one verdict per sample) and
``results.json`` (pass@k, coverage, dataset hashes, per-problem verdicts). Generation goes through
whatever LLM the caller passes (wrap it in ``CachedLLM`` so HumanEval and HumanEval+, which share
163 of 164 prompts, cost one generation). Trade-off: benchmarks run one after another,
generation then scoring, so a crash in scoring never loses generated samples.

Integrity: a sample file is extended only by the model and settings that started it; a sample
file that lacks problems of the benchmark is scored only with ``allow_partial`` (and its coverage
reported), since pass@k over the problems a file happens to hold is not the benchmark's score;
a problem whose reference solution fails its own tests is excluded and reported, not fatal.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

from selfalign.benchmarks import BenchmarkError, Problem, dataset_info, load
from selfalign.evaluate.config import EvalConfig
from selfalign.evaluate.generate import generate_samples, generation_identity
from selfalign.evaluate.reference import CHECKED, EVALPLUS
from selfalign.evaluate.results import BenchmarkResult, write_results
from selfalign.evaluate.samples import Sample, SampleWriter, read_identity, read_samples
from selfalign.evaluate.score import Scorer
from selfalign.llm.base import LLM

Advance = Callable[[int], None]
# (label, total) -> a context manager yielding advance(n): ``selfalign.progress.progress`` fits.
Progress = Callable[[str, int], ContextManager[Advance]]


@contextlib.contextmanager
def _quiet(label: str, total: int) -> Iterator[Advance]:
    """No progress callback given: the library reports nothing."""
    yield lambda n=1: None


def file_stem(benchmark: str) -> str:
    return benchmark.replace("+", "plus")


def load_problems(name: str, config: EvalConfig) -> list[Problem]:
    options: dict[str, Any] = {}
    if name == "livecodebench":
        options = {"start": config.livecodebench_start or None, "end": config.livecodebench_end or None}
    problems = load(name, config.data.get(name), **options)
    return problems[: config.limit] if config.limit else problems


def samples_identity(llm: LLM, config: EvalConfig) -> dict[str, Any]:
    """What a sample file's samples depend on: the model and the generation settings."""
    return {"model": {"name": llm.name, **llm.identity()},
            "generation": generation_identity(config.generation)}


def _samples(name: str, problems: list[Problem], config: EvalConfig, llm: LLM | None,
             samples_file: str | None,
             progress: Progress) -> tuple[list[Sample], float, dict[str, Any] | None]:
    """The samples to score, the generation time and the identity they were written under."""
    if samples_file is not None:
        samples = read_samples(samples_file, problems)
        known = {p.task_id for p in problems}
        if config.limit:
            samples = [s for s in samples if s.task_id in known]
        unknown = sorted({s.task_id for s in samples} - known)
        if unknown:
            raise BenchmarkError(f"{samples_file}: task ids not in {name}: {', '.join(unknown[:5])}")
        return samples, 0.0, read_identity(samples_file)
    if llm is None:
        raise ValueError("either an LLM or a samples file is needed")
    identity = samples_identity(llm, config)
    writer = SampleWriter(Path(config.output_dir) / f"{file_stem(name)}.samples.jsonl", identity)
    start = time.perf_counter()
    with progress(f"generate {name}", len(problems)) as advance:
        generate_samples(llm, problems, writer, config.generation, advance)
    known = {p.task_id for p in problems}
    samples = [s for s in read_samples(writer.path) if s.task_id in known]
    return ([s for s in samples if s.sample < config.generation.n], time.perf_counter() - start,
            identity)


def check_coverage(name: str, problems: list[Problem], samples: list[Sample], source: str,
                   allow_partial: bool) -> None:
    """Refuse a sample file that lacks problems of the benchmark, unless told otherwise."""
    have = {s.task_id for s in samples}
    missing = [p.task_id for p in problems if p.task_id not in have]
    if missing and not allow_partial:
        more = ", ..." if len(missing) > 5 else ""
        raise BenchmarkError(
            f"{source} has samples for {len(problems) - len(missing)} of the {len(problems)} "
            f"{name} problems (missing {', '.join(missing[:5])}{more}); pass@k over a subset is "
            "not the benchmark's score. Give a complete file, or pass --allow-partial "
            "(eval.allow_partial = true) to score the subset and report its coverage.")


def evaluate_benchmark(name: str, config: EvalConfig, llm: LLM | None = None,
                       samples_file: str | None = None, progress: Progress | None = None) -> BenchmarkResult:
    progress = progress or _quiet
    output_dir = Path(config.output_dir)
    problems = load_problems(name, config)
    info = dataset_info(name, config.data.get(name))
    samples, generate_s, identity = _samples(name, problems, config, llm, samples_file, progress)
    check_coverage(name, problems, samples, samples_file or "the sample file", config.allow_partial)
    start = time.perf_counter()
    with (progress if name in EVALPLUS + CHECKED else _quiet)(f"reference {name}", len(problems)) as advance:
        scorer = Scorer(name, problems, info["sha256"], config.score, advance)
    reference_s = time.perf_counter() - start
    # A reference that fails its own tests cannot tell right from wrong: drop that problem.
    excluded = scorer.known_bad()
    samples = [s for s in samples if s.task_id not in excluded]
    result = BenchmarkResult(name, info, known_bad_references=excluded,
                             settings={"generation": asdict(config.generation),
                                       "time_limits": asdict(config.score.time),
                                       "allow_partial": config.allow_partial},
                             total=len(problems), identity=identity)
    start = time.perf_counter()
    output_dir.mkdir(parents=True, exist_ok=True)
    with progress(f"score {name}", len(samples)) as advance, \
            open(output_dir / f"{file_stem(name)}.verdicts.jsonl", "w", encoding="utf-8") as out:
        for verdict in scorer.run(samples):
            result.add([verdict])
            out.write(json.dumps(asdict(verdict)) + "\n")
            advance(1)
    result.wall_s = {"generate": round(generate_s, 2), "reference": round(reference_s, 2),
                     "score": round(time.perf_counter() - start, 2)}
    return result


def run_eval(config: EvalConfig, llm: LLM | None = None, samples_file: str | None = None,
             progress: Progress | None = None,
             run_info: dict[str, Any] | None = None) -> list[BenchmarkResult]:
    """Evaluate every configured benchmark and write ``results.json`` after each one.
    ``progress`` (label, total) -> context manager yielding advance(n); none: silent."""
    results: list[BenchmarkResult] = []
    run = {"model": getattr(llm, "name", None),
           "model_identity": llm.identity() if llm is not None else None,
           "samples_file": samples_file, **(run_info or {})}
    for name in config.benchmarks:
        results.append(evaluate_benchmark(name, config, llm, samples_file, progress))
        write_results(Path(config.output_dir) / "results.json", results, run)
    return results
