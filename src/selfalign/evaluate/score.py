"""Score samples against a benchmark's tests in the sandbox: one verdict per (task, sample).

Per benchmark kind: EvalPlus problems (HumanEval+, MBPP+) run every base and plus input with
per-input limits max(floor, factor x reference time), and the candidate's outputs come back as
plain data that is compared *here*, against expected outputs that never entered the sandbox;
HumanEval and MBPP run their asserts in a test process that holds the candidate only behind a
plain-data call boundary (assert_runtime.py), limited the same way from the reference's own test
time; DS-1000 runs its ``code_context`` harness; LiveCodeBench runs each stdin or functional
case. The sandbox is the only place generated code runs. Trade-off: samples are scored one
program each, so isolation between samples is complete, and batching happens *inside* a program
(many inputs), not across samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from selfalign.benchmarks import BenchmarkError, Problem
from selfalign.evaluate.config import ScoreConfig
from selfalign.evaluate.programs import (all_inputs, check_program, ds1000_program, inputs_program,
                                         livecodebench_program, oracle_for, parse_failure, parse_outputs)
from selfalign.evaluate.reference import CHECKED, EVALPLUS, reference_data
from selfalign.evaluate.plain_data import NotPlain, decode, digest, is_floats
from selfalign.evaluate.samples import Sample
from selfalign.sandbox import Limits, Program, Sandbox

# An EvalPlus program prints every output it computed: at most ~4 KB each (bigger ones go as a
# digest), so ~3 MB for HumanEval+'s ~750 inputs. A result is held until its turn to be yielded.
OUTPUT_TAIL_BYTES = 8 << 20


@dataclass
class SampleVerdict:
    task_id: str
    sample: int
    status: str                  # the sandbox status: pass | fail | timeout | memory | crash | blocked
    passed: bool                 # all tests (base + plus for EvalPlus benchmarks)
    base_passed: bool            # base tests only (equals ``passed`` elsewhere)
    failure: dict | None = None  # phase, index, reason, detail of the first failing test
    wall_s: float = 0.0


def _verdict(benchmark: str, sample: Sample, result, failure: dict | None = None) -> SampleVerdict:
    if failure is None and result.status == "pass":
        return SampleVerdict(sample.task_id, sample.sample, "pass", True, True, None, result.wall_s)
    failure = failure or parse_failure(result.error)
    status = "fail" if result.status == "pass" else result.status
    if result.status in ("timeout", "memory", "crash", "blocked") and failure["phase"] == "program":
        failure = {**failure, "reason": result.status}
    base_ok = benchmark in EVALPLUS and failure["phase"] == "plus"
    return SampleVerdict(sample.task_id, sample.sample, status, False, base_ok, failure, result.wall_s)


ENDED_EARLY = "the program ended before this input"
STOPPED = ("timeout", "memory", "crash")


# ---- comparing like EvalPlus, in the host ------------------------------------------------------
def all_close(out, exp, atol, rtol=1e-7) -> bool:
    """numpy.allclose semantics on a float or a flat sequence, without importing numpy."""
    if type(out) is not type(exp):            # EvalPlus asserts equal types before allclose
        return False
    outs, exps = (list(out), list(exp)) if isinstance(exp, (list, tuple)) else ([out], [exp])
    if len(outs) != len(exps):
        return False
    for o, e in zip(outs, exps):
        if not isinstance(o, (int, float)) or isinstance(o, bool):
            return False
        if math.isinf(e) or math.isinf(o):
            if o != e:
                return False
        elif not abs(o - e) <= atol + rtol * abs(e):
            return False
    return True


def _poly(xs, x):
    return sum(c * math.pow(x, i) for i, c in enumerate(xs))


def _pyramid_area(base_edge, height):
    """Mbpp/581's other reading: ``height`` is the apex height, so the slant height is derived
    (rounded, as EvalPlus's alternative answer is; same operation order, so the same float)."""
    slant = math.sqrt((base_edge / 2) ** 2 + height ** 2)
    return round(base_edge ** 2 + 4 * (base_edge * slant) / 2)


def _padded_digit_distance(a, b):
    """Mbpp/558's other reading: the shorter number padded with leading zeros."""
    width = max(len(str(a)), len(str(b)))
    return sum(abs(int(x) - int(y)) for x, y in zip(str(a).zfill(width), str(b).zfill(width)))


def _exact(out, exp, args, atol: float, oracle: str) -> bool:
    """EvalPlus's "exact match" step, which some tasks widen or replace. Raising is a failure."""
    if oracle == "set_eq":                         # replaces ==: order, duplicates, list/tuple
        return set(out) == set(exp)                # ignored; an unhashable item raises: fails
    if out == exp:
        return True
    if oracle == "zero_ok":
        return out == 0
    if oracle == "surface_area":
        return abs(out - _pyramid_area(*args)) <= atol
    if oracle == "digit_distance":
        return out == _padded_digit_distance(*args)
    return False


def matches(out, exp, args, atol: float, oracle: str) -> bool:
    """Whether the candidate's output (plain data) is right, with EvalPlus's special oracles."""
    if oracle == "find_zero":                      # HumanEval/32: any root will do
        return type(out) in (int, float) and abs(_poly(args[0], out)) <= atol
    if oracle == "not_none":                       # regex tasks: a match object or a bool
        return out == (exp is not None) if type(out) is bool else (out is None) == (exp is None)
    if _exact(out, exp, args, atol, oracle):
        return True
    if atol == 0 and is_floats(exp):
        atol = 1e-6
    return atol != 0 and all_close(out, exp, atol)


def same_output(out, expected: dict, args, atol: float, oracle: str) -> bool:
    """One output as the candidate's process sent it (typed JSON, or {"~h": digest} for a big one)
    against the reference's row ({"v": typed JSON} or {"h": digest})."""
    try:
        if type(out) is dict and set(out) == {"~h"}:
            want = expected["h"] if "h" in expected else digest(decode(expected["v"], ("~r",)))
            return out["~h"] == want
        value = decode(out, ("~o",))
        if "h" in expected:
            return digest(value) == expected["h"]
        return matches(value, decode(expected["v"], ("~r",)), args, atol, oracle)
    except (ValueError, TypeError, KeyError, ArithmeticError, RecursionError, NotPlain):
        return False


def compare_outputs(problem: Problem, reference: dict, record) -> dict | None:
    """The first failing test of an EvalPlus sample from what its program printed, or None when
    every output is right. ``record`` is untrusted: anything malformed is a failure."""
    n_base, inputs, expected = len(problem.base_inputs), all_inputs(problem), reference["expected"]

    def located(i: int, reason: str, detail: str) -> dict:
        phase, index = ("base", i) if i < n_base else ("plus", i - n_base)
        return {"phase": phase, "index": index, "reason": reason, "detail": detail[:500]}

    if type(record) is not dict or type(record.get("outputs")) is not list:
        return None if record is None else located(0, "error", "malformed outputs")
    outputs, stop = record["outputs"], record.get("stop")
    for i, out in enumerate(outputs[:len(inputs)]):
        if "error" in expected[i]:
            continue
        if not same_output(out, expected[i], inputs[i], problem.atol, oracle_for(problem)):
            shown = "a big value" if type(out) is dict and "~h" in out else repr(out)[:200]
            return located(i, "wrong", f"input {repr(inputs[i])[:200]} -> {shown}")
    if type(stop) is dict and stop.get("phase") == "load":
        return {k: stop.get(k) for k in ("phase", "index", "reason", "detail")}
    if type(stop) is dict and type(stop.get("index")) is int and 0 <= stop["index"] < len(inputs):
        return located(stop["index"], str(stop.get("reason")), str(stop.get("detail")))
    if len(outputs) < len(inputs):
        return located(len(outputs), "error", ENDED_EARLY)
    return None


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
            if not (ref and ref["times"]):
                raise BenchmarkError(f"{sample.task_id}: no reference outputs ({ref and ref['error']})")
            return inputs_program(problem, sample.solution, pid, ref, limits)
        if self.benchmark in CHECKED:
            reference_s = ref["times"][0] if ref and ref["times"] else 0.0
            return check_program(problem, sample.solution, pid, limits.per_test(reference_s))
        if self.benchmark == "ds1000":
            return ds1000_program(problem, sample.solution, pid, self.config.ds1000_timeout_s)
        return livecodebench_program(problem, sample.solution, pid, self.config.test_timeout_s)

    def verdict(self, sample: Sample, result) -> SampleVerdict:
        if self.benchmark not in EVALPLUS:
            return _verdict(self.benchmark, sample, result)
        problem, record = self.problems[sample.task_id], parse_outputs(result.stdout_tail)
        failure = compare_outputs(problem, self.reference[sample.task_id], record)
        if record is None:   # it died before printing its outputs: the sandbox says how
            failure = parse_failure(result.error if result.status != "pass" else "no outputs")
        elif failure and failure["detail"] == ENDED_EARLY and result.status in STOPPED:
            # killed after its base outputs were printed: the sandbox's reason, at the first
            # input whose output never came (the one that hung may be a later one)
            failure = {**failure, "reason": result.status, "detail": "the program was stopped at this "
                       f"input or a later one: {parse_failure(result.error)['detail']}"}
        return _verdict(self.benchmark, sample, _Passed(result) if failure is None else result, failure)

    def run(self, samples: Sequence[Sample]) -> Iterator[SampleVerdict]:
        """Verdicts in the order of ``samples``."""
        limits = Limits(timeout_s=60.0, memory_mb=self.config.memory_mb, output_tail_bytes=OUTPUT_TAIL_BYTES)
        with Sandbox(limits, workers=self.config.workers or None) as sandbox:
            programs = (self.program(s) for s in samples)
            for sample, (_, result) in zip(samples, sandbox.run(programs)):
                yield self.verdict(sample, result)


class _Passed:
    """An EvalPlus program whose outputs all match: how its process ended does not matter (a
    program run under PYTHONHASHSEED=0 ends without the sandbox's pass record)."""

    status, error = "pass", None

    def __init__(self, result) -> None:
        self.wall_s = result.wall_s
