"""One evaluation run: for each benchmark, load problems, generate or read samples, score, report.

Outputs, in one directory: ``<bench>.samples.jsonl`` (resumable), ``<bench>.verdicts.jsonl``
(one verdict per sample) and ``results.json`` (pass@k, dataset hashes, per-problem verdicts).
Generation goes through whatever LLM the caller passes (wrap it in ``CachedLLM`` so HumanEval
and HumanEval+, which share 163 of 164 prompts, cost one generation). Trade-off: benchmarks run
one after another, generation then scoring, so a crash in scoring never loses generated samples.
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
from selfalign.evaluate.generate import generate_samples
from selfalign.evaluate.reference import CHECKED, EVALPLUS
from selfalign.evaluate.results import BenchmarkResult, write_results
from selfalign.evaluate.samples import Sample, SampleWriter, read_samples
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


def _samples(name: str, problems: list[Problem], config: EvalConfig, llm: LLM | None,
             samples_file: str | None, progress: Progress) -> tuple[list[Sample], float]:
    if samples_file is not None:
        samples = read_samples(samples_file, problems)
        known = {p.task_id for p in problems}
        if config.limit:
            samples = [s for s in samples if s.task_id in known]
        unknown = sorted({s.task_id for s in samples} - known)
        if unknown:
            raise BenchmarkError(f"{samples_file}: task ids not in {name}: {', '.join(unknown[:5])}")
        return samples, 0.0
    if llm is None:
        raise ValueError("either an LLM or a samples file is needed")
    writer = SampleWriter(Path(config.output_dir) / f"{file_stem(name)}.samples.jsonl")
    start = time.perf_counter()
    with progress(f"generate {name}", len(problems)) as advance:
        generate_samples(llm, problems, writer, config.generation, advance)
    known = {p.task_id for p in problems}
    samples = [s for s in read_samples(writer.path) if s.task_id in known]
    return [s for s in samples if s.sample < config.generation.n], time.perf_counter() - start


def evaluate_benchmark(name: str, config: EvalConfig, llm: LLM | None = None,
                       samples_file: str | None = None, progress: Progress | None = None) -> BenchmarkResult:
    progress = progress or _quiet
    output_dir = Path(config.output_dir)
    problems = load_problems(name, config)
    info = dataset_info(name, config.data.get(name))
    samples, generate_s = _samples(name, problems, config, llm, samples_file, progress)
    start = time.perf_counter()
    with (progress if name in EVALPLUS + CHECKED else _quiet)(f"reference {name}", len(problems)) as advance:
        scorer = Scorer(name, problems, info["sha256"], config.score, advance)
    reference_s = time.perf_counter() - start
    result = BenchmarkResult(name, info, known_bad_references=scorer.known_bad(),
                             settings={"generation": asdict(config.generation),
                                       "time_limits": asdict(config.score.time)})
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
    run = {"model": getattr(llm, "name", None), "samples_file": samples_file, **(run_info or {})}
    for name in config.benchmarks:
        results.append(evaluate_benchmark(name, config, llm, samples_file, progress))
        write_results(Path(config.output_dir) / "results.json", results, run)
    return results
