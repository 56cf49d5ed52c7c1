"""Sample files: foreign formats, torn lines and resuming after kill -9 without duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from selfalign.benchmarks import BenchmarkError, Problem
from selfalign.evaluate.samples import Sample, SampleWriter, read_samples

PROBLEMS = [Problem("humaneval", "HumanEval/0", "def f():\n", entry_point="f"),
            Problem("humaneval", "HumanEval/1", "def g():\n", entry_point="g")]


def test_reads_human_eval_and_evalplus_rows(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "    return 1\n"}) + "\n"
                    + json.dumps({"task_id": "HumanEval/0", "completion": "    return 2\n"}) + "\n"
                    + json.dumps({"task_id": "HumanEval/1", "solution": "def g():\n    return 3\n"}) + "\n")
    samples = read_samples(path, PROBLEMS)
    assert [(s.task_id, s.sample) for s in samples] == [("HumanEval/0", 0), ("HumanEval/0", 1), ("HumanEval/1", 0)]
    assert samples[1].solution == "def f():\n    return 2\n"
    assert samples[2].solution == "def g():\n    return 3\n"


def test_bad_rows_name_the_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"task_id": "HumanEval/0"}\n{"task_id": "x", "solution": ""}\n')
    with pytest.raises(BenchmarkError, match=r"s.jsonl:1: a sample needs"):
        read_samples(path, PROBLEMS)
    path.write_text('{"task_id": "HumanEval/9", "completion": "x"}\n')
    with pytest.raises(BenchmarkError, match="unknown task_id"):
        read_samples(path, PROBLEMS)


def test_torn_last_line_is_cut_and_pairs_are_never_duplicated(tmp_path):
    path = tmp_path / "s.jsonl"
    writer = SampleWriter(path)
    writer.write([Sample("T/0", 0, "a"), Sample("T/0", 1, "b")])
    with open(path, "a") as handle:
        handle.write('{"task_id": "T/1", "sample": 0, "solu')      # killed mid-write
    writer = SampleWriter(path)
    assert writer.missing("T/0", 2) == [] and writer.missing("T/1", 1) == [0]
    writer.write([Sample("T/0", 1, "again"), Sample("T/1", 0, "c")])
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["task_id"], r["sample"], r["solution"]) for r in rows] == [
        ("T/0", 0, "a"), ("T/0", 1, "b"), ("T/1", 0, "c")]


WRITER_SCRIPT = textwrap.dedent("""
    import sys, time
    from selfalign.evaluate.samples import Sample, SampleWriter
    writer = SampleWriter(sys.argv[1])
    for task in range(600):
        missing = writer.missing(f"T/{task}", 3)
        if missing:
            writer.write([Sample(f"T/{task}", i, "x" * 2000) for i in missing])
            time.sleep(0.002)
""")


def test_resume_after_kill_minus_nine(tmp_path):
    path = tmp_path / "samples.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path)], env=env)
    deadline = time.time() + 30
    while (not path.exists() or path.stat().st_size < 100_000) and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(read_samples(path))
    assert 0 < before < 1800
    subprocess.run([sys.executable, "-c", WRITER_SCRIPT, str(path)], env=env, check=True, timeout=300)
    samples = read_samples(path)
    keys = [(s.task_id, s.sample) for s in samples]
    assert len(keys) == len(set(keys)) == 1800
    lines = path.read_text().splitlines()
    assert len(lines) == 1800 and all(json.loads(line) for line in lines)


MODEL_A = {"model": {"name": "llamacpp:/m.gguf", "backend": "llamacpp", "fingerprint": "gguf:aaaa",
                     "options": {"n_ctx": 4096}},
           "generation": {"temperature": 0.0, "max_tokens": 512}}


def _with(identity, **changes):
    return {"model": {**identity["model"], **changes.get("model", {})},
            "generation": {**identity["generation"], **changes.get("generation", {})}}


def test_identity_sidecar_is_written_then_enforced(tmp_path):
    from selfalign.evaluate.samples import meta_path, read_identity
    path = tmp_path / "humaneval.samples.jsonl"
    SampleWriter(path, MODEL_A).write([Sample("T/0", 0, "a")])
    assert meta_path(path).name == "humaneval.samples.meta.json"
    assert read_identity(path) == MODEL_A
    SampleWriter(path, _with(MODEL_A, model={"name": "llamacpp:/moved/m.gguf"}))  # same bytes, new path
    retrained = _with(MODEL_A, model={"fingerprint": "gguf:bbbb"})
    with pytest.raises(BenchmarkError) as caught:
        SampleWriter(path, retrained)
    message = str(caught.value)
    assert "llamacpp:/m.gguf (fingerprint gguf:aaaa)" in message
    assert "(fingerprint gguf:bbbb)" in message and "model.fingerprint" in message
    assert "-o" in message and "delete" in message
    with pytest.raises(BenchmarkError, match=r"generation.max_tokens: 512 -> 64"):
        SampleWriter(path, _with(MODEL_A, generation={"max_tokens": 64}))
    with pytest.raises(BenchmarkError, match=r"model.options.n_ctx: 4096 -> 2048"):
        SampleWriter(path, _with(MODEL_A, model={"options": {"n_ctx": 2048}}))
    assert [s.solution for s in read_samples(path)] == ["a"]     # nothing was appended


def test_identity_of_a_file_without_samples_is_replaced(tmp_path):
    from selfalign.evaluate.samples import read_identity
    path = tmp_path / "humaneval.samples.jsonl"
    SampleWriter(path, MODEL_A)                           # killed before the first sample
    other = _with(MODEL_A, generation={"temperature": 0.8})
    SampleWriter(path, other).write([Sample("T/0", 0, "b")])
    assert read_identity(path) == other


def test_samples_without_identity_are_not_extended(tmp_path):
    path = tmp_path / "humaneval.samples.jsonl"
    SampleWriter(path).write([Sample("T/0", 0, "a")])    # no identity: an older or foreign file
    with pytest.raises(BenchmarkError, match="no record of the model and settings"):
        SampleWriter(path, MODEL_A)
    (tmp_path / "humaneval.samples.meta.json").write_text('{"format": "other"}')
    from selfalign.evaluate.samples import read_identity
    with pytest.raises(BenchmarkError, match="not a selfalign sample identity"):
        read_identity(path)
