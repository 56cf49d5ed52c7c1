"""Score samples against a benchmark's tests in the sandbox: one verdict per (task, sample).

Per benchmark kind: EvalPlus problems (HumanEval+, MBPP+) run every base and plus input with
per-input limits max(floor, factor x reference time); HumanEval and MBPP run their asserts as
one program, limited the same way from the reference's own test time; DS-1000 runs its
``code_context`` harness; LiveCodeBench runs each stdin or functional case. The sandbox is the
only place generated code runs. Trade-off: samples are scored one program each, so isolation
between samples is complete, and batching happens *inside* a program (many inputs), not across
samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from selfalign.benchmarks import BenchmarkError, Problem
from selfalign.evaluate.config import ScoreConfig
from selfalign.evaluate.programs import (check_program, ds1000_program, inputs_program,
                                         livecodebench_program, parse_failure)
from selfalign.evaluate.reference import CHECKED, EVALPLUS, reference_data
from selfalign.evaluate.samples import Sample
from selfalign.sandbox import Limits, Program, Sandbox


@dataclass
class SampleVerdict:
    task_id: str
    sample: int
    status: str                  # the sandbox status: pass | fail | timeout | memory | crash | blocked
    passed: bool                 # all tests (base + plus for EvalPlus benchmarks)
    base_passed: bool            # base tests only (equals ``passed`` elsewhere)
    failure: dict | None = None  # phase, index, reason, detail of the first failing test
    wall_s: float = 0.0


def _verdict(benchmark: str, sample: Sample, result) -> SampleVerdict:
    if result.status == "pass":
        return SampleVerdict(sample.task_id, sample.sample, "pass", True, True, None, result.wall_s)
    failure = parse_failure(result.error)
    if result.status in ("timeout", "memory", "crash", "blocked") and failure["phase"] == "program":
        failure = {**failure, "reason": result.status}
    base_ok = benchmark in EVALPLUS and failure["phase"] == "plus"
    return SampleVerdict(sample.task_id, sample.sample, result.status, False, base_ok, failure,
                         result.wall_s)


class Scorer:
    """Builds programs for one benchmark's samples, with the reference data they need."""

    def __init__(self, benchmark: str, problems: Sequence[Problem], dataset_sha: str,
                 config: ScoreConfig, progress: Callable[[int], None] | None = None) -> None:
        self.benchmark, self.config = benchmark, config
        self.problems = {p.task_id: p for p in problems}
        self.reference: dict[str, dict] = {}
        if benchmark in EVALPLUS + CHECKED:
            cache_dir = Path(config.cache_dir) if config.cache_dir else None   # "" = the default
            self.reference = reference_data(benchmark, list(problems), dataset_sha,
                                            config.workers or None, cache_dir, config.memory_mb, progress)

    def known_bad(self) -> dict[str, str]:
        """Problems whose reference solution fails its own tests, with the reason."""
        return {tid: ref["error"] for tid, ref in self.reference.items() if not ref["ok"]}

    def program(self, sample: Sample) -> Program:
        problem = self.problems.get(sample.task_id)
        if problem is None:
            raise BenchmarkError(f"sample for unknown task {sample.task_id!r} in {self.benchmark}")
        pid = f"{sample.task_id}#{sample.sample}"
        limits, ref = self.config.time, self.reference.get(sample.task_id)
        if self.benchmark in EVALPLUS:
            times = ref["times"] if ref and ref["times"] else [0.0] * len(problem.base_inputs + problem.plus_inputs)
            expected = ref["expected"] if ref and ref["times"] else []
            if not expected:
                raise BenchmarkError(f"{sample.task_id}: no reference outputs ({ref and ref['error']})")
            return inputs_program(problem, sample.solution, pid, expected, times, limits)
        if self.benchmark in CHECKED:
            reference_s = ref["times"][0] if ref and ref["times"] else 0.0
            return check_program(problem, sample.solution, pid, limits.per_test(reference_s))
        if self.benchmark == "ds1000":
            return ds1000_program(problem, sample.solution, pid, self.config.ds1000_timeout_s)
        return livecodebench_program(problem, sample.solution, pid, self.config.test_timeout_s)

    def run(self, samples: Sequence[Sample]) -> Iterator[SampleVerdict]:
        """Verdicts in the order of ``samples``."""
        limits = Limits(timeout_s=60.0, memory_mb=self.config.memory_mb)
        with Sandbox(limits, workers=self.config.workers or None) as sandbox:
            programs = (self.program(s) for s in samples)
            for sample, (_, result) in zip(samples, sandbox.run(programs)):
                yield _verdict(self.benchmark, sample, result)
