"""The whole self-alignment loop on a real loopback server, the real sandbox and a tiny random
model built in the test: eval_base -> seeds ... curate -> train -> eval_trained -> report, its
resume after kill -9 inside the train and eval steps, the ablation, and a run with nothing to train."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chat_templates import CHATML
from scripted import ScriptedServer
from test_pipeline import _overrides
from selfalign.experiment import run_experiment
from selfalign.pipeline import LOOP_STEPS, run_pipeline
from selfalign.settings import load_config

pytest.importorskip("trl", reason="needs the [train] extra")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    from train.conftest import save_model, tiny_llama
    from selfalign.train.model import load_tokenizer, resolve_base

    tokenizer = load_tokenizer(resolve_base(None))   # byte-level BPE: any generated text round-trips
    return save_model(tmp_path_factory.mktemp("tiny"), tokenizer, tiny_llama(tokenizer, hidden=64, tie=True))


def _loop(tmp_path: Path, url: str, run: Path, weights: Path, **extra) -> list[str]:
    values = {"train.model": str(weights), "train.max_steps": 4, "train.batch_size": 2, "train.grad_accum": 1,
              "train.save_steps": 1, "train.eval_fraction": 0.0, "train.gguf": [], "train.smoke": False,
              "train.compare_prompts": 0, "train.threads": 1, "eval.benchmarks": ["humaneval"], "eval.limit": 2,
              "eval.generation.max_tokens": 24, "eval.score.cache_dir": str(tmp_path / "refcache"), **extra}
    return _overrides(tmp_path, url, run) + [f"{k}={json.dumps(v)}" for k, v in values.items()]


def test_the_loop_evaluates_trains_evaluates_again_and_reports(tmp_path, tiny_weights):
    run = tmp_path / "run"
    template = tmp_path / "chatml.jinja"   # the served model has a chat template: eval_native runs
    template.write_text(CHATML)
    chat = {"model.options.chat_template": str(template),
            **{f"{stage}.format": "completion" for stage in ("concepts", "instructions", "responses")}}
    with ScriptedServer() as server:
        reports = run_experiment(load_config(None, _loop(tmp_path, server.url, run, tiny_weights, **chat)),
                                 progress=False)
        native_prompts = [r["prompt"] for r in server.requests if str(r["prompt"]).startswith("<|im_start|>user")]
    assert len(native_prompts) == 2     # eval.limit = 2 problems, in the model's own template
    manifest = json.loads((run / "manifest.json").read_text())
    assert list(manifest["stages"]) == list(LOOP_STEPS)
    assert all(entry["status"] == "done" for entry in manifest["stages"].values())
    trained = manifest["stages"]["eval_trained"]["summary"]
    assert trained["backend"] == "transformers" and trained["model"] == str(run / "train")
    # the trained model answered: its samples say so, and they are not the server's
    meta = json.loads((run / "eval_trained" / "humaneval.samples.meta.json").read_text())
    assert meta["identity"]["model"]["name"] == f"transformers:{run / 'train'}"
    report = reports["passing"]
    assert [r["name"] for r in report["benchmarks"][0]["rows"]] == ["humaneval"]
    row = report["benchmarks"][0]["rows"][0]
    assert row["before"] is not None and row["after"] is not None and row["delta"] == round(row["after"] - row["before"], 2)
    assert report["dataset"]["train"] == len((run / "sft.jsonl").read_text().splitlines())
    text = (run / "report" / "report.md").read_text()
    assert "| humaneval |" in text and "Trained" in text and "Funnel (kept): seeds" in text
    # the before column is the base's better format, and both are reported
    formats = report["before_formats"]["humaneval"]
    assert formats["chosen"] in ("instruct", "native")
    assert row["before"] == max(formats["instruct"]["pass@1"], formats["native"]["pass@1"])
    assert f"Before on humaneval: the base's better prompt format, {formats['chosen']}" in text
    # the exported before samples are the chosen format's
    from selfalign.experiment import export_samples
    export_samples(run, tmp_path / "export", "selfalign experiment")
    step = "eval_native" if formats["chosen"] == "native" else "eval_base"
    samples = [json.loads(line) for line in (run / step / "humaneval.samples.jsonl").read_text().splitlines()]
    exported = [json.loads(line) for line in (tmp_path / "export" / "before-humaneval.jsonl").read_text().splitlines()]
    assert exported == [{"task_id": s["task_id"], "solution": s["solution"]} for s in samples if "task_id" in s]


def test_the_ablation_trains_the_same_budget_under_each_policy(tmp_path, tiny_weights):
    run = tmp_path / "run"
    with ScriptedServer() as server:
        config = load_config(None, _loop(tmp_path, server.url, run, tiny_weights, **{"train.max_steps": 2}))
        run_experiment(config, progress=False)
        calls = len(server.requests)
        reports = run_experiment(config, ablation=True, progress=False)
        # the sub-runs reuse the main run's generation and base evaluation: no request is made
        assert len(server.requests) == calls > 0
    assert list(reports) == ["passing", "random", "failing"]
    # the same budget, unless a policy's pool runs out (the scripted model fails one answer only)
    sizes = {p: r["dataset"]["train"] for p, r in reports.items()}
    assert sizes["random"] == sizes["passing"] > sizes["failing"] == 1, sizes
    for policy in ("random", "failing"):
        sub = run / "ablation" / policy
        stages = json.loads((sub / "manifest.json").read_text())["stages"]
        assert all(entry["status"] == "done" for entry in stages.values()) and "report" in stages
        assert (sub / "responses.jsonl").read_bytes() == (run / "responses.jsonl").read_bytes()
    table = (run / "report" / "ablation.md").read_text()
    assert "| passing | 6 |" in table and "| random | 6 |" in table and "| failing | 1 |" in table
    assert "failing: 1 of the 6 rows of the budget" in table


def test_nothing_to_train_is_reported_with_its_reason_not_an_error(tmp_path, tiny_weights):
    run = tmp_path / "run"
    with ScriptedServer() as server:   # every instruction is "too long": curation keeps nothing
        config = load_config(None, _loop(tmp_path, server.url, run, tiny_weights, **{"curate.max_instruction_words": 1}))
        reports = run_experiment(config, progress=False)
    stages = json.loads((run / "manifest.json").read_text())["stages"]
    assert stages["eval_native"]["summary"] == {"skipped": "the model has no chat template of its own"}
    assert stages["train"]["summary"]["skipped"].startswith("nothing to train on: the curated dataset is empty (")
    assert stages["eval_trained"]["summary"]["skipped"].startswith("no trained model: nothing to train on")
    assert any(note.startswith("train skipped") for note in reports["passing"]["notes"])
    assert "Note: train skipped: nothing to train on" in (run / "report" / "report.md").read_text()


def _wait_for(path_glob: tuple[Path, str], proc: subprocess.Popen, timeout: float = 240) -> Path:
    root, pattern = path_glob
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {pattern} appeared")
        time.sleep(0.05)
    raise AssertionError(f"{pattern} did not appear in {timeout} s")


@pytest.mark.slow
def test_kill_9_inside_train_and_inside_eval_trained_resumes(tmp_path, tiny_weights):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with ScriptedServer() as server:
        args = _loop(tmp_path, server.url, run, tiny_weights, **{"train.max_steps": 6})
        cmd = [sys.executable, "-m", "selfalign", "experiment", "--no-progress"] + [a for kv in args for a in ("--set", kv)]
        # kill -9 once a training checkpoint exists, then once the trained model's samples start
        for marker in ((run / "train" / "checkpoints", "checkpoint-*/trainer_state.json"),
                       (run / "eval_trained", "*.samples.jsonl")):
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _wait_for(marker, proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    stages = json.loads((run / "manifest.json").read_text())["stages"]
    assert all(entry["status"] == "done" for entry in stages.values())
    card = json.loads((run / "train" / "selfalign.json").read_text())
    assert card["training"]["steps"] == 6 and card["training"]["resumed_from_step"] >= 1
    # one sample per problem, none duplicated by the resumed evaluation
    rows = (run / "eval_trained" / "humaneval.samples.jsonl").read_text().splitlines()
    task_ids = [json.loads(r)["task_id"] for r in rows if '"task_id"' in r]
    assert sorted(task_ids) == sorted(set(task_ids)) and len(task_ids) == 2


def test_the_cli_exports_before_and_after_samples_in_evalplus_format(tmp_path, tiny_weights, capsys):
    from selfalign.cli import main
    run, out = tmp_path / "run", tmp_path / "experiments" / "tiny"
    with ScriptedServer() as server:
        args = ["experiment", "--no-progress", "--export", str(out)]
        for item in _loop(tmp_path, server.url, run, tiny_weights):
            args += ["--set", item]
        assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "after-humaneval.jsonl",
                                                     "before-humaneval.jsonl", "report.json"]
    assert json.loads((out / "report.json").read_text()) == json.loads((run / "report" / "report.json").read_text())
    for side in ("before", "after"):
        rows = [json.loads(line) for line in (out / f"{side}-humaneval.jsonl").read_text().splitlines()]
        assert [set(r) for r in rows] == [{"task_id", "solution"}] * 2      # eval.limit = 2
        assert rows[0]["task_id"] == "HumanEval/0" and "def " in rows[0]["solution"]
    readme = (out / "README.md").read_text()
    assert "selfalign experiment --no-progress --export" in readme and "| humaneval |" in readme
    assert "evalplus.evaluate --dataset humaneval --samples after-humaneval.jsonl" in readme
    base = json.loads((run / "train" / "selfalign.json").read_text())["base_model"]
    sha = f" (sha256 `{base['sha256']}`)" if base.get("sha256") else ""     # a directory has none
    assert f"Base model: `{Path(base['model']).name}`{sha}." in readme
    assert "after-humaneval.jsonl" in capsys.readouterr().out


def test_a_base_evaluation_finished_after_the_report_reaches_it_and_the_ablation(tmp_path, tiny_weights):
    """A run whose report (and ablation sub-runs) were written before eval_native existed:
    the next `selfalign experiment` runs eval_native, and the reports take it in."""
    import shutil
    run = tmp_path / "run"
    template = tmp_path / "chatml.jinja"
    template.write_text(CHATML)
    chat = {"model.options.chat_template": str(template), "train.max_steps": 2,
            **{f"{stage}.format": "completion" for stage in ("concepts", "instructions", "responses")}}
    with ScriptedServer() as server:
        config = load_config(None, _loop(tmp_path, server.url, run, tiny_weights, **chat))
        run_experiment(config, ablation=True, progress=False)
        # as if eval_native had not existed then: no step, no copies, reports without it
        for where in (run, run / "ablation" / "random", run / "ablation" / "failing"):
            manifest = json.loads((where / "manifest.json").read_text())
            del manifest["stages"]["eval_native"]
            (where / "manifest.json").write_text(json.dumps(manifest))
            shutil.rmtree(where / "eval_native")
        from selfalign.stages.report import write_report
        for where in (run, run / "ablation" / "random"):
            assert "before_formats" not in write_report(where)
        reports = run_experiment(config, ablation=True, progress=False)
    assert all("before_formats" in r for r in reports.values())
    saved = json.loads((run / "ablation" / "failing" / "report" / "report.json").read_text())
    assert saved["before_formats"] == reports["passing"]["before_formats"]
