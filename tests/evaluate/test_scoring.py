"""Scoring in the real sandbox: reference solutions pass, empty bodies fail, failures are located."""

from __future__ import annotations

import pytest

from selfalign.benchmarks import benchmark_dir, dataset_info, load
from selfalign.evaluate.samples import Sample
from selfalign.evaluate.config import ScoreConfig, TimeLimits
from selfalign.evaluate.score import Scorer

needs_shared = pytest.mark.skipif(benchmark_dir() is None, reason="shared benchmark dir missing")


def score(name, problems, solutions, tmp_path, path=None, **config):
    scorer = Scorer(name, problems, dataset_info(name, path)["sha256"],
                    ScoreConfig(workers=2, cache_dir=str(tmp_path / "cache"), **config))
    samples = [Sample(p.task_id, 0, code) for p, code in zip(problems, solutions)]
    return scorer, list(scorer.run(samples))


def test_humaneval_reference_passes_and_return_none_fails(tmp_path):
    problems = load("humaneval")
    scorer, good = score("humaneval", problems, [p.reference_program for p in problems], tmp_path)
    assert scorer.known_bad() == {}
    assert [v.task_id for v in good if not v.passed] == []
    _, bad = score("humaneval", problems, [p.prompt + "    return None\n" for p in problems], tmp_path)
    assert sum(v.passed for v in bad) == 0
    assert all(v.failure["phase"] == "test" for v in bad)


@needs_shared
def test_humaneval_plus_mini_reference_passes_base_and_plus(tmp_path):
    problems = load("humaneval+mini")
    scorer, verdicts = score("humaneval+", problems, [p.reference_program for p in problems], tmp_path,
                             path=str(benchmark_dir() / "HumanEvalPlus-Mini-v0.1.10.jsonl.gz"))
    assert scorer.known_bad() == {}
    assert [v.task_id for v in verdicts if not v.passed] == []


@needs_shared
def test_mbpp_plus_reference_passes_including_converted_inputs(tmp_path):
    wanted = {"Mbpp/2", "Mbpp/106", "Mbpp/124", "Mbpp/252", "Mbpp/580", "Mbpp/722", "Mbpp/737",
              "Mbpp/255", "Mbpp/278", "Mbpp/579", "Mbpp/769", "Mbpp/794"}
    problems = [p for p in load("mbpp+") if p.task_id in wanted]
    scorer, verdicts = score("mbpp+", problems, [p.reference_program for p in problems], tmp_path)
    assert len(problems) == len(wanted) and scorer.known_bad() == {}
    assert [(v.task_id, v.failure) for v in verdicts if not v.passed] == []
    nones = [f"def {p.entry_point}(*args):\n    return None\n" for p in problems]
    _, verdicts = score("mbpp+", problems, nones, tmp_path)
    assert [v.task_id for v in verdicts if v.passed] == []


@needs_shared
def test_plus_failure_is_located_after_base_passes(tmp_path):
    problem = next(p for p in load("humaneval+") if p.task_id == "HumanEval/0")
    longest_base = max(len(args[0]) for args in problem.base_inputs)
    cheat = (problem.reference_program.replace(
        "    sorted_numbers = sorted(numbers)",
        f"    if len(numbers) > {longest_base}:\n        return False\n    sorted_numbers = sorted(numbers)"))
    _, (verdict,) = score("humaneval+", [problem], [cheat], tmp_path)
    assert verdict.base_passed and not verdict.passed
    assert verdict.failure["phase"] == "plus" and verdict.failure["reason"] == "wrong"


@needs_shared
def test_per_input_timeout_stops_a_non_terminating_candidate(tmp_path):
    problem = next(p for p in load("humaneval+") if p.task_id == "HumanEval/0")
    loop = problem.prompt + "    while True:\n        pass\n"
    _, (verdict,) = score("humaneval+", [problem], [loop], tmp_path, time=TimeLimits(floor_s=0.2))
    assert verdict.failure["reason"] == "timeout" and verdict.failure["phase"] == "base"
    assert verdict.wall_s < 2.0


def test_candidate_exit_or_demo_block_cannot_fake_a_pass(tmp_path):
    problem = load("humaneval")[0]
    exits = problem.prompt + "    return False\nimport sys\nsys.exit(0)\n"
    demo = problem.reference_program + "\nif __name__ == '__main__':\n    print(input())\n"
    _, verdicts = score("humaneval", [problem, problem], [exits, demo], tmp_path)
    assert [v.passed for v in verdicts] == [False, True]
