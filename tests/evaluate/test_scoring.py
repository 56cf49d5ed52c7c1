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
def test_mbpp_plus_set_tasks_compare_as_sets(tmp_path):
    """Mbpp/2 asks for the shared elements: EvalPlus accepts them in any order and collection type
    (its set-output oracle), so a set, or a list in another order, passes; a wrong set fails."""
    problem = next(p for p in load("mbpp+") if p.task_id == "Mbpp/2")
    as_set = "def similar_elements(a, b):\n    return set(a) & set(b)\n"
    reversed_list = "def similar_elements(a, b):\n    return sorted(set(a) & set(b), reverse=True)\n"
    one_extra = "def similar_elements(a, b):\n    return (set(a) & set(b)) | {-1}\n"
    _, verdicts = score("mbpp+", [problem] * 3, [as_set, reversed_list, one_extra], tmp_path)
    assert [v.passed for v in verdicts] == [True, True, False]
    assert verdicts[2].failure["phase"] == "base" and verdicts[2].failure["reason"] == "wrong"


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


@needs_shared
def test_base_verdict_survives_a_plus_input_that_no_timer_can_stop(tmp_path):
    """Mbpp/605 as the embedded model answers it: ``max(range(2, n + 1))`` is one C call, deaf to
    the per-input timer, so plus input 1 (n = 999999999989) runs until the program's wall-clock
    backstop kills it. The base outputs, printed before, still count (EvalPlus: base pass, plus
    timeout); the failure is placed at the first plus input whose output never came."""
    problem = next(p for p in load("mbpp+") if p.task_id == "Mbpp/605")
    code = ("def prime_num(n):\n    if n <= 1:\n        return False\n"
            "    for i in range(2, int(max(range(2, n + 1)) - 1)):\n        if n % i == 0:\n"
            "            return False\n    return True\n")
    _, (verdict,) = score("mbpp+", [problem], [code], tmp_path, time=TimeLimits(program_cap_s=2.0))
    assert verdict.base_passed and not verdict.passed and verdict.status == "timeout"
    assert (verdict.failure["phase"], verdict.failure["reason"]) == ("plus", "timeout")


def test_candidate_exit_or_demo_block_cannot_fake_a_pass(tmp_path):
    problem = load("humaneval")[0]
    exits = problem.prompt + "    return False\nimport sys\nsys.exit(0)\n"
    demo = problem.reference_program + "\nif __name__ == '__main__':\n    print(input())\n"
    _, verdicts = score("humaneval", [problem, problem], [exits, demo], tmp_path)
    assert [v.passed for v in verdicts] == [False, True]
