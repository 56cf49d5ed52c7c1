"""The README's measured figures are what the kept bench outputs say (bench/figures.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_readme_figures_are_regenerated_from_bench_results():
    done = subprocess.run([sys.executable, str(REPO / "bench" / "figures.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_experiment_block_renders_the_exported_tables(tmp_path, monkeypatch):
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("figures", REPO / "bench" / "figures.py")
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    monkeypatch.setattr(figures, "EXPERIMENT", REPO / "experiments" / "not-a-run")
    assert figures.experiment_block().startswith("Not measured yet")
    run = tmp_path / "exported"
    run.mkdir()
    row = {"name": "HumanEval+", "metric": "pass@1", "before": 50.0, "after": 52.4, "delta": 2.4}
    report = {"benchmarks": [{"benchmark": "humaneval+", "rows": [row], "fixed": ["HumanEval/3"],
                              "broken": [], "same_data": True}], "notes": [], "funnel": {"curate": {"kept": 40}}}
    (run / "report.json").write_text(json.dumps(report))
    (run / "ablation.json").write_text(json.dumps({"passing": {**report, "dataset": {"train": 36}},
                                                   "random": {**report, "dataset": {"train": 36}}}))
    monkeypatch.setattr(figures, "EXPERIMENT", run)
    monkeypatch.setattr(figures, "REPO", tmp_path)
    block = figures.experiment_block()
    assert "| HumanEval+ | 50.0 | 52.4 | +2.4 | 1 | 0 |" in block
    assert "| random | 36 | 52.4 (+2.4) |" in block and "[exported/](exported/README.md)" in block
