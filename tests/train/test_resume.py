"""A training job killed with SIGKILL and rerun ends with the weights of an uninterrupted job."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from selfalign.train import train
from selfalign.train.model import TrainError

from .conftest import quick_config

pytestmark = pytest.mark.slow   # a subprocess that imports torch and TRL

SETTINGS = dict(max_steps=6, save_steps=2, eval_fraction=0.2, learning_rate=3e-3)

KILLED_RUN = """
import os, signal, sys
from transformers import TrainerCallback
import selfalign.train.job as job
from selfalign.train import TrainConfig, train

class KillAtStep(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        if state.global_step == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)

make_callbacks = job.make_callbacks
job.make_callbacks = lambda *a, **k: make_callbacks(*a, **k) + [KillAtStep()]
train(sys.argv[1], sys.argv[2], TrainConfig(**{settings}), sys.argv[3], progress=False)
"""


def test_resume_after_kill_9_equals_an_uninterrupted_run(tmp_path, word_model_dir, sft_file):
    cfg = quick_config(**SETTINGS)
    straight = train(sft_file, tmp_path / "straight", cfg, str(word_model_dir), progress=False)

    resumed_dir = tmp_path / "resumed"
    script = KILLED_RUN.format(kill_at=3, settings=repr(dict(cfg.__dict__)))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(sft_file), str(resumed_dir),
                           str(word_model_dir)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    checkpoints = resumed_dir / "checkpoints"
    assert (checkpoints / "checkpoint-2" / "trainer_state.json").is_file()
    assert not (resumed_dir / "model.safetensors").exists()
    half_written = checkpoints / "checkpoint-4"   # as if the kill had come while saving step 4
    half_written.mkdir()
    (half_written / "model.safetensors").write_bytes(b"\0" * 100)

    resumed = train(sft_file, resumed_dir, cfg, str(word_model_dir), progress=False)
    assert resumed["training"]["resumed_from_step"] == 2 and resumed["training"]["steps"] == 6
    assert not checkpoints.exists()   # deleted once the final model is saved
    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(str(resumed_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-6, worst
    assert resumed["training"]["eval_loss"] == pytest.approx(straight["training"]["eval_loss"], abs=1e-6)
    steps = [p["step"] for p in json.loads((resumed_dir / "loss.json").read_text())["train"]]
    assert steps == [1, 2, 3, 4, 5, 6]   # the curve spans the kill


def test_a_finished_job_is_not_redone_and_another_job_is_refused(tmp_path, word_model_dir, sft_file):
    cfg = quick_config(max_steps=2)
    first = train(sft_file, tmp_path / "out", cfg, str(word_model_dir), progress=False)
    mtime = (tmp_path / "out" / "model.safetensors").stat().st_mtime_ns
    assert train(sft_file, tmp_path / "out", cfg, str(word_model_dir), progress=False) == first
    assert (tmp_path / "out" / "model.safetensors").stat().st_mtime_ns == mtime
    with pytest.raises(TrainError, match="another config_hash"):
        train(sft_file, tmp_path / "out", quick_config(max_steps=3), str(word_model_dir), progress=False)
