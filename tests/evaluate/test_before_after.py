"""The before column of the before/after report is the base model in its better prompt format."""

from __future__ import annotations

import json

from selfalign.evaluate.before_after import best_format, loop_report, render_markdown
from selfalign.evaluate.results import FORMAT


def _results(scores: dict[str, tuple[float, dict[str, int]]]) -> dict:
    """A results document: per benchmark its pass@1 and which problems passed."""
    return {"format": FORMAT, "benchmarks": {
        name: {"benchmark": name, "dataset": {"sha256": f"sha-{name}"}, "scores": {"pass@1": score},
               "base_scores": {"pass@1": score + 1}, "per_problem": {t: {"passed": p} for t, p in passed.items()}}
        for name, (score, passed) in scores.items()}}


INSTRUCT = _results({"humaneval+": (50.0, {"a": 1, "b": 0}), "mbpp+": (40.0, {"c": 1, "d": 0})})
NATIVE = _results({"humaneval+": (55.0, {"a": 0, "b": 1}), "mbpp+": (40.0, {"c": 0, "d": 1})})


def test_each_benchmark_takes_the_better_format_and_the_instruct_template_on_a_tie():
    chosen, formats = best_format(INSTRUCT, NATIVE)
    assert formats["humaneval+"]["chosen"] == "native" and formats["mbpp+"]["chosen"] == "instruct"
    assert chosen["benchmarks"]["humaneval+"] is NATIVE["benchmarks"]["humaneval+"]
    assert chosen["benchmarks"]["mbpp+"] is INSTRUCT["benchmarks"]["mbpp+"]
    assert formats["humaneval+"]["native"] == {"pass@1": 55.0, "base pass@1": 56.0}


def test_without_a_native_evaluation_the_instruct_results_stand():
    assert best_format(INSTRUCT, None) == (INSTRUCT, {})


def test_the_report_compares_the_trained_model_with_the_better_format_and_names_both(tmp_path):
    run = tmp_path / "run"
    after = _results({"humaneval+": (52.0, {"a": 1, "b": 1}), "mbpp+": (45.0, {"c": 1, "d": 1})})
    for step, doc in (("eval_base", INSTRUCT), ("eval_native", NATIVE), ("eval_trained", after)):
        (run / step).mkdir(parents=True)
        (run / step / "results.json").write_text(json.dumps(doc))
    report = loop_report(run)
    rows = {row["name"]: row for bench in report["benchmarks"] for row in bench["rows"]}
    # HumanEval+: the native 55.0 is the bar, so 52.0 is a loss, not the gain over 50.0 it looks like
    assert rows["HumanEval+"]["before"] == 55.0 and rows["HumanEval+"]["delta"] == -3.0
    assert rows["MBPP+"]["before"] == 40.0 and rows["MBPP+"]["delta"] == 5.0
    flips = {bench["benchmark"]: (bench["fixed"], bench["broken"]) for bench in report["benchmarks"]}
    assert flips["humaneval+"] == (["a"], []) and flips["mbpp+"] == (["d"], [])   # against the chosen format
    text = render_markdown(report)
    assert ("Before on HumanEval+: the base's better prompt format, native (pass@1 instruct template 50.0, "
            "own chat template 55.0).") in text
