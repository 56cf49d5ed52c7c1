"""``selfalign eval`` end to end: rescoring sample files, the results file, and --compare."""

from __future__ import annotations

import json

from selfalign.benchmarks import load
from selfalign.cli import main
from selfalign.evaluate.results import read_results


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_rescore_then_compare_shows_flips(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SELFALIGN_CACHE_DIR", str(tmp_path / "cache"))
    problems = load("humaneval")[:6]
    before = write(tmp_path / "a.jsonl", [
        {"task_id": p.task_id, "completion": p.canonical_solution if i < 3 else "    return None\n"}
        for i, p in enumerate(problems)])
    after = write(tmp_path / "b.jsonl", [
        {"task_id": p.task_id, "solution": p.reference_program if i != 1 else p.prompt + "    pass\n"}
        for i, p in enumerate(problems)])
    for name, samples in (("a", before), ("b", after)):
        code = main(["eval", "--samples", samples, "--benchmark", "humaneval", "--limit", "6",
                     "-o", str(tmp_path / name), "--workers", "2"])
        assert code == 0
    result = read_results(tmp_path / "a")["benchmarks"]["humaneval"]
    assert result["scores"] == {"pass@1": 50.0}
    assert result["dataset"]["sha256"].startswith("b796127e")
    assert result["per_problem"]["HumanEval/4"]["failure"]["phase"] == "test"
    verdicts = (tmp_path / "a" / "humaneval.verdicts.jsonl").read_text().splitlines()
    assert len(verdicts) == 6
    capsys.readouterr()
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    shown = capsys.readouterr().out
    assert "fixed HumanEval/3, HumanEval/4, HumanEval/5" in shown
    assert "broken HumanEval/1" in shown


def test_bad_sample_file_is_one_clear_error(tmp_path, capsys):
    bad = write(tmp_path / "bad.jsonl", [{"task_id": "HumanEval/0"}])
    assert main(["eval", "--samples", bad, "--benchmark", "humaneval", "-o", str(tmp_path / "o")]) == 2
    assert "bad.jsonl:1: a sample needs a 'solution' or a 'completion'" in capsys.readouterr().err
