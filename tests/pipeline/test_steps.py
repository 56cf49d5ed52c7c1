"""The seams of the pipeline: typed lineage, the executor interface and artifact steps, on a real
loopback server, the real sandbox and real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripted import ScriptedServer
from test_pipeline import _overrides, _stage_rows
from selfalign import pipeline
from selfalign.executor.base import Executor
from selfalign.lineage import Lineage, LineageError, trace
from selfalign.pipeline import PipelineError, run_pipeline
from selfalign.records import Example, Seed, Verdict
from selfalign.settings import load_config
from selfalign.store import read_records

STAGES = ("seeds", "concepts", "instructions", "responses", "execute", "curate")


def test_every_record_traces_back_to_its_seed(tmp_path):
    run = tmp_path / "run"
    with ScriptedServer() as server:
        run_pipeline(load_config(None, _overrides(tmp_path, server.url, run)), progress=False)
    examples = list(read_records(run / "curate.jsonl", "example"))
    assert examples
    lineage = Lineage(run)
    for example in examples:
        chain = lineage.trace(example)
        assert [r.kind for r in chain] == ["seed", "concepts", "instruction", "response", "verdict", "example"]
        assert all(r.seed_id == chain[0].id for r in chain)
        assert isinstance(chain[-1], Example) and chain[-1].instruction_id == chain[2].id
        assert chain[-1].response_id == chain[3].id and chain[-1].parent_id == chain[4].id
    # A dropped record (a failing answer) traces back as well.
    failing = json.loads((run / "execute.dropped.jsonl").read_text().splitlines()[1])["record"]
    chain = trace(run, failing["id"])
    assert isinstance(chain[0], Seed) and isinstance(chain[-1], Verdict) and chain[-1].status == "fail"
    with pytest.raises(LineageError, match="no record nosuch"):
        trace(run, "nosuch")


class ReversedExecutor(Executor):
    """Runs every task first and commits them last-first: what an out-of-order cluster does."""

    def run(self, make_stage, tasks, commit):
        stage = None
        done = []
        for task in tasks:
            stage = stage or make_stage()
            done.append((task, list(stage.run(task.items))))
        for task, outcomes in reversed(done):
            commit(task, outcomes)


def test_any_executor_writes_the_same_files(tmp_path, monkeypatch):
    with ScriptedServer() as server:
        run_pipeline(load_config(None, _overrides(tmp_path, server.url, tmp_path / "local")), progress=False)
        monkeypatch.setattr(pipeline, "get_executor", lambda name, ray=None: ReversedExecutor())
        run_pipeline(load_config(None, _overrides(tmp_path, server.url, tmp_path / "reversed")), progress=False)
    for name in STAGES:
        assert _stage_rows(tmp_path / "reversed", name) == _stage_rows(tmp_path / "local", name), name
    assert (tmp_path / "reversed" / "sft.jsonl").read_bytes() == (tmp_path / "local" / "sft.jsonl").read_bytes()


def _eval_overrides(tmp_path: Path, url: str, run: Path, **extra) -> list[str]:
    values = {"run.steps": ["eval_base"], "eval.benchmarks": ["humaneval"], "eval.limit": 2,
              "eval.score.cache_dir": str(tmp_path / "refcache"), **extra}
    return _overrides(tmp_path, url, run) + [f"{k}={json.dumps(v)}" for k, v in values.items()]


def test_artifact_step_is_recorded_marked_and_resumed(tmp_path):
    run = tmp_path / "run"
    with ScriptedServer() as server:
        manifest = run_pipeline(load_config(None, _eval_overrides(tmp_path, server.url, run)), progress=False)
        entry = manifest.stages["eval_base"]
        assert list(manifest.stages) == ["eval_base"]
        assert entry["status"] == "done" and entry["kind"] == "artifact" and entry["llm"]["calls"] == 2
        assert entry["summary"]["scores"]["humaneval"] == {"pass@1": 0.0}
        assert entry["model"]["backend"] == "openai" and entry["model"]["fingerprint"]
        marker = json.loads((run / "eval_base" / "COMPLETE.json").read_text())
        assert marker["config_hash"] == entry["config_hash"] and marker["summary"] == entry["summary"]
        assert json.loads((run / "eval_base" / "results.json").read_text())["benchmarks"]["humaneval"]
        calls = len(server.requests)

        # Done: skipped. Killed before its marker: built again, every LLM call from the cache.
        run_pipeline(load_config(None, _eval_overrides(tmp_path, server.url, run)), progress=False)
        (run / "eval_base" / "COMPLETE.json").unlink()
        (run / "eval_base" / "humaneval.samples.jsonl").unlink()
        again = run_pipeline(load_config(None, _eval_overrides(tmp_path, server.url, run)), progress=False)
        assert len(server.requests) == calls
        assert again.stages["eval_base"]["llm_this_segment"]["cache_hits"] == 2

        changed = _eval_overrides(tmp_path, server.url, run, **{"eval.limit": 3})
        with pytest.raises(PipelineError, match="different configuration.*--restart-from eval_base"):
            run_pipeline(load_config(None, changed), progress=False)
        redone = run_pipeline(load_config(None, changed), progress=False, restart_from="eval_base")
        assert redone.stages["eval_base"]["status"] == "done"


def test_unknown_step_is_refused_before_any_work(tmp_path):
    with pytest.raises(PipelineError, match="unknown step.*nosuch.*steps are eval_base, eval_native, seeds"):
        run_pipeline(load_config(None, [f"run.dir={json.dumps(str(tmp_path / 'r'))}",
                                         'run.steps=["seeds", "nosuch"]']), progress=False)
    assert not (tmp_path / "r").exists()


def test_bad_restart_from_is_refused_before_the_run_directory_is_made(tmp_path):
    config = load_config(None, [f"run.dir={json.dumps(str(tmp_path / 'r'))}", 'run.steps=["seeds"]'])
    with pytest.raises(PipelineError, match="cannot restart from 'nosuch'.*steps are eval_base"):
        run_pipeline(config, progress=False, restart_from="nosuch")
    assert not (tmp_path / "r").exists()


def _not_a_model_dir(tmp_path: Path) -> str:
    (tmp_path / "empty-dir").mkdir()
    return str(tmp_path / "empty-dir")


def _text_named_gguf(tmp_path: Path) -> str:
    (tmp_path / "fake.gguf").write_text("not a model")
    return str(tmp_path / "fake.gguf")


@pytest.mark.parametrize("make_model, message", [
    (lambda tmp_path: str(tmp_path / "missing.gguf"), "model path not found"),
    (_text_named_gguf, "not a GGUF model file"),
    (_not_a_model_dir, "directory without config.json"),
])
def test_a_model_that_cannot_load_is_refused_before_seed_mining(tmp_path, make_model, message):
    from selfalign.llm import LLMError

    run = tmp_path / "run"
    overrides = _overrides(tmp_path, "unused", run, **{"model.model": make_model(tmp_path),
                                                        "run.steps": ["seeds", "concepts"]})
    with pytest.raises(LLMError, match=message):
        run_pipeline(load_config(None, overrides), progress=False)
    assert not run.exists()                       # nothing mined, no half-made run directory


def test_a_step_without_the_model_does_not_check_it(tmp_path):
    run = tmp_path / "run"
    overrides = _overrides(tmp_path, "unused", run, **{"model.model": str(tmp_path / "missing.gguf"),
                                                        "run.steps": ["seeds"]})
    manifest = run_pipeline(load_config(None, overrides), progress=False)
    assert manifest.stages["seeds"]["status"] == "done"


def test_a_run_that_would_execute_refuses_first_when_nothing_can_isolate(tmp_path, monkeypatch):
    from selfalign.sandbox import SandboxError, isolation

    def unavailable(mode):
        raise isolation.IsolationUnavailable("no bubblewrap here: install bubblewrap")

    monkeypatch.setattr(isolation, "resolve", unavailable)
    with pytest.raises(SandboxError, match="install bubblewrap"):
        run_pipeline(load_config(None, [f"run.dir={json.dumps(str(tmp_path / 'r'))}"]), progress=False)
    assert not (tmp_path / "r").exists()   # refused before seeds, concepts ... spent any time


def test_train_is_an_artifact_step_that_fine_tunes_on_the_curated_dataset(tmp_path):
    pytest.importorskip("trl", reason="needs the [train] extra")
    from train.conftest import save_model, tiny_llama
    from selfalign.train.model import load_tokenizer, resolve_base

    tokenizer = load_tokenizer(resolve_base(None))   # byte-level BPE: any generated text round-trips
    weights = save_model(tmp_path / "tiny", tokenizer, tiny_llama(tokenizer, hidden=64, tie=True))
    run = tmp_path / "run"
    train = {"run.steps": [*STAGES, "train"], "train.model": str(weights), "train.max_steps": 2,
             "train.batch_size": 2, "train.grad_accum": 1, "train.save_steps": 1, "train.eval_fraction": 0.0,
             "train.gguf": [], "train.smoke": False, "train.compare_prompts": 0, "train.threads": 1}
    with ScriptedServer() as server:
        config = load_config(None, _overrides(tmp_path, server.url, run, **train))
        manifest = run_pipeline(config, progress=False)
        rows = len((run / "sft.jsonl").read_text().splitlines())
        assert list(manifest.stages)[-1] == "train"
        summary = manifest.stages["train"]["summary"]
        assert summary["steps"] == 2 and summary["rows"] == rows and summary["model_dir"] == "train"
        card = json.loads((run / "train" / "selfalign.json").read_text())
        assert card["base_model"]["model"] == str(weights)
        assert card["dataset"]["path"] == str(run / "dataset")
        assert (run / "train" / "model.safetensors").is_file()
        assert json.loads((run / "train" / "COMPLETE.json").read_text())["inputs"] == {
            "curate": manifest.stages["curate"]["config_hash"]}
        # Run again: nothing is trained twice; a changed [train] section is refused, not mixed.
        weights_before = (run / "train" / "model.safetensors").read_bytes()
        run_pipeline(config, progress=False)
        assert (run / "train" / "model.safetensors").read_bytes() == weights_before
        changed = load_config(None, _overrides(tmp_path, server.url, run, **{**train, "train.max_steps": 3}))
        with pytest.raises(PipelineError, match="different configuration.*--restart-from train"):
            run_pipeline(changed, progress=False)


def test_a_new_api_key_timeout_or_concurrency_keeps_the_runs_digests(tmp_path):
    """Only what changes the model's output keys a run: rotating a key must not orphan it."""
    def digests(**options):
        return pipeline.step_digests(load_config(None, ['model.model="http://127.0.0.1:9/v1"'] +
                                                 [f"model.options.{k}={json.dumps(v)}" for k, v in options.items()]))
    base = digests(api_key="sk-one")
    assert digests(api_key="sk-two", timeout=30.0, concurrency=8) == base == digests()
    assert digests(model_name="other")["concepts"] != base["concepts"]


def test_credentials_are_never_written_into_the_run_and_an_older_run_still_resumes(tmp_path):
    run = tmp_path / "run"
    secret = "sk-do-not-write-me"
    with ScriptedServer() as server:
        args = _overrides(tmp_path, server.url, run, **{"run.steps": ["seeds", "concepts"]})
        keyed = args + [f'model.options.api_key="{secret}"', "model.options.timeout=9.0"]
        run_pipeline(load_config(None, keyed), progress=False)
        assert server.headers[0]["Authorization"] == f"Bearer {secret}"     # it was used, not written
        for path in run.rglob("*"):
            if path.is_file() and path.suffix in (".toml", ".json", ".jsonl"):
                assert secret not in path.read_text(errors="replace"), path
        assert "timeout = 9.0" in (run / "config.toml").read_text()     # only the credential is left out
        # A run recorded while every option counted in the digest (timeout included) still resumes.
        config = load_config(None, keyed)
        legacy = pipeline.step_digests(config, filtered=False)
        assert legacy["concepts"] != pipeline.step_digests(config)["concepts"]
        manifest = json.loads((run / "manifest.json").read_text())
        for name in ("seeds", "concepts"):
            manifest["stages"][name]["config_hash"] = legacy[name]
        (run / "manifest.json").write_text(json.dumps(manifest))
        calls = len(server.requests)
        assert run_pipeline(config, progress=False).stages["concepts"]["status"] == "done"
        assert len(server.requests) == calls
