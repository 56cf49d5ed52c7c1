"""The pipeline end to end over a real loopback server, the real sandbox and real files,
including kill -9 in the middle of a generation stage and of the execute stage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripted import ScriptedServer
from selfalign.seeds.config import DEFAULT_BENCHMARKS
from selfalign.settings import load_config
from selfalign.pipeline import PipelineError, run_pipeline
from selfalign.store import read_records

CORPUS = '''
def scale(values, factor):
    """Multiply every value by factor and return the new list."""
    return [v * factor for v in values]


def clamp(value, low, high):
    """Return value limited to the closed range [low, high]."""
    return max(low, min(high, value))


def initials(name):
    """Return the upper-case initials of a full name."""
    return "".join(part[0].upper() for part in name.split())


def word_lengths(text):
    """Map each distinct word of text to its length."""
    return {w: len(w) for w in text.split()}


def safe_ratio(a, b):
    """Return a / b, or 0.0 when b is zero."""
    if b == 0:
        return 0.0
    return a / b


def rotate_left(items, k):
    """Return items rotated k places to the left."""
    if not items:
        return []
    k %= len(items)
    return items[k:] + items[:k]
'''


def _overrides(tmp_path: Path, server_url: str, run_dir: Path, **extra: object) -> list[str]:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "small.py").write_text(CORPUS)
    values = {"run.dir": str(run_dir), "run.limit": 0, "run.chunk_size": 2,
              "model.model": server_url, "responses.n": 2, "execute.limits.timeout_s": 5.0,
              "seeds.sources": [str(corpus)], "seeds.typecheck": False,
              "seeds.decontaminate": False, "seeds.near_dedup": False, **extra}
    return [f"{k}={json.dumps(v)}" for k, v in values.items()]


def _stage_rows(run_dir: Path, name: str) -> list[dict]:
    lines = (run_dir / f"{name}.jsonl").read_text().splitlines()[1:]
    rows = [json.loads(line) for line in lines]
    for row in rows:  # timings differ between two runs of the same program
        for key in ("wall_s", "cpu_s", "peak_mb", "cached"):
            row.get("exec", {}).pop(key, None)
    return rows


def test_end_to_end_funnel_and_lineage(tmp_path):
    with ScriptedServer() as server:
        config = load_config(None, _overrides(tmp_path, server.url, tmp_path / "run", **{"run.parquet": True}))
        manifest = run_pipeline(config, progress=False)
    stages = manifest.stages
    assert list(stages) == ["seeds", "concepts", "instructions", "responses", "execute", "curate"]
    assert stages["seeds"]["kept"] == 6
    assert stages["concepts"]["in"] == 6 and stages["concepts"]["kept"] == 6
    assert stages["responses"]["in"] == 6 and stages["responses"]["out"] == 12
    execute = stages["execute"]
    assert execute["in"] == 12 and execute["kept"] + execute["dropped"].get("exec:fail", 0) == 12
    assert 0 < execute["dropped"]["exec:fail"] < 12  # the scripted wrong answers fail
    assert execute["isolation"] and all(level.startswith(("bwrap", "rlimits")) for level in execute["isolation"])
    sft = [json.loads(line) for line in (tmp_path / "run" / "sft.jsonl").read_text().splitlines()]
    assert len(sft) == stages["curate"]["kept"] > 0
    dataset = tmp_path / "run" / "dataset"
    assert len((dataset / "data.jsonl").read_text().splitlines()) == len(sft)
    assert (dataset / "README.md").read_text().startswith("---\n") and (dataset / "data.parquet").exists()
    seeds = {r["id"] for r in _stage_rows(tmp_path / "run", "seeds")}
    for row in sft:
        assert row["seed_id"] in seeds  # every SFT row traces back to its seed
        assert row["prompt"].endswith("### Response\n") and "assert" not in row["completion"]
    for name, kind in (("responses", "response"), ("curate", "example")):
        as_parquet = list(read_records(tmp_path / "run" / f"{name}.parquet", kind))
        assert as_parquet == list(read_records(tmp_path / "run" / f"{name}.jsonl", kind))
    dropped = (tmp_path / "run" / "execute.dropped.jsonl").read_text().splitlines()[1:]
    assert all(json.loads(d)["reason"] == "exec:fail" for d in dropped)
    assert json.loads(dropped[0])["record"]["exec"]["error_type"] == "AssertionError"
    # prompt and generated tokens per generation stage, from the server's usage counts
    for name in ("concepts", "instructions", "responses"):
        llm = stages[name]["llm"]
        assert llm["tokens"] > 0 and 0 < llm["prompt_evaluated"] <= llm["prompt_tokens"], name
    assert stages["execute"]["llm"]["prompt_tokens"] == 0
    # what each decontamination ran against is in the manifest, not in a warning
    assert stages["seeds"]["decontamination"] == {"enabled": False}
    decontam = stages["curate"]["decontamination"]
    assert decontam["enabled"] and decontam["against"]["humaneval"] > 0
    assert set(decontam["against"]) | set(decontam["unavailable"]) == set(DEFAULT_BENCHMARKS)


def test_rerun_makes_no_llm_calls_and_changed_config_is_refused(tmp_path):
    with ScriptedServer() as server:
        overrides = _overrides(tmp_path, server.url, tmp_path / "run")
        run_pipeline(load_config(None, overrides), progress=False)
        calls = len(server.requests)
        manifest = run_pipeline(load_config(None, overrides), progress=False, restart_from="concepts")
        assert len(server.requests) == calls  # every call came from the cache
        assert manifest.stages["responses"]["llm_this_segment"]["cache_hits"] == 6
        kept_config = (tmp_path / "run" / "config.toml").read_text()
        with pytest.raises(PipelineError, match="different configuration.*--restart-from responses"):
            run_pipeline(load_config(None, overrides + ["responses.n=3"]), progress=False)
        # the refused run leaves the config the outputs were made with
        assert (tmp_path / "run" / "config.toml").read_text() == kept_config


def _run_cli(overrides: list[str]) -> subprocess.Popen:
    args = [sys.executable, "-m", "selfalign.cli", "run", "--no-progress"]
    for item in overrides:
        args += ["--set", item]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_when(proc: subprocess.Popen, parts: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not any(parts.glob("0*.jsonl")):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the stage never committed a chunk"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("stage", ["responses", "execute"])
def test_kill9_mid_stage_then_resume_gives_the_same_output(tmp_path, stage):
    with ScriptedServer(sleep_s=0.3, delay=0.05) as server:
        fresh_overrides = _overrides(tmp_path, server.url, tmp_path / "fresh")
        run_pipeline(load_config(None, fresh_overrides), progress=False)
        fresh_calls = len(server.requests)

        killed_dir = tmp_path / "killed"
        overrides = _overrides(tmp_path, server.url, killed_dir)
        before = len(server.requests)
        _kill_when(_run_cli(overrides), killed_dir / ".parts" / stage)
        finished = json.loads((killed_dir / "manifest.json").read_text())["stages"]
        assert finished[stage]["status"] == "running"  # really killed in the middle
        done = _run_cli(overrides)
        out, err = done.communicate(timeout=300)
        assert done.returncode == 0, err
        assert "curate" in out
        # Only calls in flight at the kill are made twice: the openai backend sends a chunk's
        # requests concurrently, so that is at most one chunk (run.chunk_size = 2) of them.
        assert len(server.requests) - before <= fresh_calls + 2
    for name in ("seeds", "concepts", "instructions", "responses", "execute", "curate"):
        assert _stage_rows(killed_dir, name) == _stage_rows(tmp_path / "fresh", name), name
    assert (killed_dir / "sft.jsonl").read_bytes() == (tmp_path / "fresh" / "sft.jsonl").read_bytes()
    assert not (killed_dir / ".parts").exists() or not any((killed_dir / ".parts").iterdir())


@pytest.mark.slow
def test_kill9_during_a_llamacpp_batch_then_resume_gives_the_same_output(tmp_path):
    """The embedded model with batched decoding (parallel = 4): each chunk's requests go to the
    batch decoder in one call, a sample's text depends on that batch, and a kill -9 in the middle
    of the stage must still resume to exactly the uninterrupted run's records: finished chunks
    are kept, the chunk in flight is sent again as the same batch."""
    small = {"model.model": "", "concepts.max_tokens": 24, "instructions.max_tokens": 48,
             "run.steps": ["seeds", "concepts", "instructions"]}
    batched = ["model.options={parallel = 4, n_ctx = 2048, n_threads = 1}"]
    fresh = _overrides(tmp_path, "", tmp_path / "fresh", **small) + batched
    run_pipeline(load_config(None, fresh), progress=False)
    killed_dir = tmp_path / "killed"
    overrides = _overrides(tmp_path, "", killed_dir, **small) + batched
    _kill_when(_run_cli(overrides), killed_dir / ".parts" / "concepts")
    assert json.loads((killed_dir / "manifest.json").read_text())["stages"]["concepts"]["status"] == "running"
    done = _run_cli(overrides)
    _, err = done.communicate(timeout=600)
    assert done.returncode == 0, err
    for name in ("concepts", "instructions"):
        kept = _stage_rows(killed_dir, name)
        assert kept == _stage_rows(tmp_path / "fresh", name), name
        dropped = (killed_dir / f"{name}.dropped.jsonl").read_text()
        assert dropped == (tmp_path / "fresh" / f"{name}.dropped.jsonl").read_text(), name
    assert len(_stage_rows(killed_dir, "concepts")) + len(
        (killed_dir / "concepts.dropped.jsonl").read_text().splitlines()[1:]) == 6


def test_a_rerun_with_nothing_to_do_says_so(tmp_path, capsys):
    from selfalign.cli import main
    with ScriptedServer() as server:
        args = ["run", "--no-progress"]
        for item in _overrides(tmp_path, server.url, tmp_path / "run"):
            args += ["--set", item]
        assert main(args) == 0
        first = capsys.readouterr().out
        assert main(args) == 0
        again = capsys.readouterr().out
    assert "already complete" not in first
    assert "already complete" in again and "curate" in again


def test_a_run_resumes_from_another_checkout_and_old_digests_still_resume(tmp_path, monkeypatch):
    """A corpus shipped in the package is hashed by its place in the package, so the same run
    directory resumes after the checkout or venv moved (the path in the config changed). A run
    recorded with the digests used before (absolute path) still resumes where it is."""
    import shutil

    from selfalign import pipeline
    from selfalign.seeds.config import demo_corpus

    packages = []
    for name in ("checkout-a", "checkout-b"):
        corpus = tmp_path / name / "selfalign" / "data" / "corpus"
        corpus.mkdir(parents=True)
        shutil.copy(demo_corpus(), corpus)
        packages.append(tmp_path / name / "selfalign")
    run_dir = tmp_path / "run"

    def run_from(package: Path):
        monkeypatch.setattr(pipeline, "PACKAGE_DIR", package.resolve())
        source = package / "data" / "corpus" / Path(demo_corpus()).name
        config = load_config(None, [f"run.dir={json.dumps(str(run_dir))}", 'run.steps=["seeds"]',
                                    f"seeds.sources=[{json.dumps(str(source))}]",
                                    "seeds.typecheck=false", "seeds.decontaminate=false"])
        return config, run_pipeline(config, progress=False)

    config, first = run_from(packages[0])
    finished = first.stages["seeds"]["finished"]
    config, again = run_from(packages[1])              # moved: resumes, mines nothing again
    assert again.stages["seeds"]["finished"] == finished
    # Recorded with the old, path-bound digest: still accepted, nothing rerun.
    manifest = json.loads((run_dir / "manifest.json").read_text())
    legacy = pipeline.step_digests(config, portable=False)["seeds"]
    assert legacy != manifest["stages"]["seeds"]["config_hash"]
    manifest["stages"]["seeds"]["config_hash"] = legacy
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    _, old = run_from(packages[1])
    assert old.stages["seeds"]["finished"] == finished


def test_seed_mining_reports_its_passes_and_no_empty_bar(tmp_path, capsys):
    config = load_config(None, [f"run.dir={json.dumps(str(tmp_path / 'run'))}", 'run.steps=["seeds"]',
                                "seeds.typecheck=false", "seeds.decontaminate=false"])
    run_pipeline(config, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("seeds: extract + filter: ") for line in lines)
    assert not any(line.startswith("seeds: 0,") for line in lines), lines
