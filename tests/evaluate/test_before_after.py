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


def _card(run, train_rows: int, effective_batch: int) -> None:
    (run / "train").mkdir(parents=True)
    (run / "train" / "selfalign.json").write_text(json.dumps({
        "base_model": {"model": "base.gguf"},
        "dataset": {"rows": train_rows + 1, "train": train_rows, "eval": 1, "sha256": "x"},
        "training": {"steps": 3, "epochs": 3.0, "train_loss": 0.3, "eval_loss": 0.6, "seconds": 60.0,
                     "precision": "fp32", "effective_batch": effective_batch}}))


def test_training_on_fewer_rows_than_one_batch_is_called_out_in_the_report(tmp_path):
    _card(tmp_path / "small", 2, 8)
    _card(tmp_path / "enough", 8, 8)
    small, enough = loop_report(tmp_path / "small"), loop_report(tmp_path / "enough")
    assert any("2 rows, fewer than one effective batch (8)" in n for n in small["notes"])
    assert not any("effective batch" in n for n in enough["notes"])
    assert "Note: trained on 2 rows, fewer than one effective batch (8)" in render_markdown(small)
