"""One small real run for the report tests: the scripted model behind a real loopback server, the
real sandbox and real stage files (a third of the answers fail their tests), a seed copied from
HumanEval for decontamination to catch, and the two files a trained loop adds: the loss curve and
the before/after evaluation, written by the library's own writers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))
from scripted import ScriptedServer  # noqa: E402
from test_pipeline import _overrides  # noqa: E402

from selfalign.evaluate.results import BenchmarkResult, ProblemResult, write_results  # noqa: E402
from selfalign.pipeline import run_pipeline  # noqa: E402
from selfalign.settings import load_config  # noqa: E402
from selfalign.train.curve import write_curve  # noqa: E402

CONTAMINATED = '''
def has_close_elements(numbers, threshold):
    """ Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)
    True
    """
    sorted_numbers = sorted(numbers)
    for i in range(len(sorted_numbers) - 1):
        if sorted_numbers[i + 1] - sorted_numbers[i] < threshold:
            return True
    return False
'''
# HumanEval/0 goes from failing to passing, HumanEval/1 the other way
BEFORE = {"HumanEval/0": 0, "HumanEval/1": 1, "HumanEval/2": 1}
AFTER = {"HumanEval/0": 1, "HumanEval/1": 0, "HumanEval/2": 1}
NATIVE = {"HumanEval/0": 0, "HumanEval/1": 0, "HumanEval/2": 1}   # the base in its own chat template


def _results(path: Path, passed: dict[str, int]) -> None:
    result = BenchmarkResult("humaneval", {"version": "test", "sha256": "same"}, total=len(passed))
    result.problems = {tid: ProblemResult(n=1, passed=p, base_passed=p) for tid, p in passed.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_results(path, [result], {"model": "scripted"})


@pytest.fixture(scope="session")
def report_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "corpus").mkdir()
    (tmp / "corpus" / "contaminated.py").write_text(CONTAMINATED)
    run = tmp / "run"
    with ScriptedServer() as server:
        config = load_config(None, _overrides(tmp, server.url, run, **{"seeds.decontaminate": True}))
        run_pipeline(config, progress=False)
    history = [{"step": s, "epoch": s / 4, "loss": 2.0 / s, "learning_rate": 1e-5} for s in range(1, 5)]
    write_curve(history + [{"step": 4, "epoch": 1.0, "eval_loss": 0.7}], run / "train", png=False)
    _results(run / "eval_base" / "results.json", BEFORE)
    _results(run / "eval_native" / "results.json", NATIVE)
    _results(run / "eval_trained" / "results.json", AFTER)
    return run
