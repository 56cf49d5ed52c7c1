"""`selfalign train` from the command line: config keys, user errors, and a 2-process CPU run
under `accelerate launch` that must equal a 1-process run with the same effective batch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from selfalign.cli import main
from selfalign.config import ConfigError
from selfalign.settings import load_config
from selfalign.train import TrainConfig, train

from .conftest import quick_config

REPO = Path(__file__).resolve().parents[2]
ACCELERATE_CONFIGS = REPO / "configs" / "accelerate"


def test_train_settings_come_from_the_run_toml_and_set(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text("[train]\nepochs = 2\nlora = true\n")
    cfg = load_config(toml, ["train.max_steps=7", "train.gguf=[]"]).train
    assert (cfg.epochs, cfg.lora, cfg.max_steps, cfg.gguf) == (2.0, True, 7, [])
    defaults = TrainConfig()
    assert (defaults.optimizer, defaults.learning_rate, defaults.epochs, defaults.effective_batch,
            defaults.warmup_ratio, defaults.scheduler, defaults.max_length, defaults.dropout,
            defaults.packing) == ("adafactor", 1e-5, 4.0, 64, 0.05, "linear", 1280, 0.0, False)
    with pytest.raises(ConfigError, match="train.template must be one of"):
        load_config(None, ["train.template=alpaca"])


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "out"),
                 "--set", "train.gguf=[]"]) == 2
    assert "training data not found" in capsys.readouterr().err
    assert main(["train", "x.jsonl", "-o", "out", "--set", "train.optimizer=lion"]) == 2
    assert "train.optimizer must be one of" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(p.name for p in ACCELERATE_CONFIGS.glob("*.yaml")))
def test_the_accelerate_configs_load(name):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ACCELERATE_CONFIGS / name))
    assert config.distributed_type is not None and config.num_processes >= 2
    ds_file = (config.deepspeed_config or {}).get("deepspeed_config_file")
    if ds_file:
        assert json.loads((REPO / ds_file).read_text())["zero_allow_untested_optimizer"] is True   # Adafactor


@pytest.mark.slow
def test_two_cpu_processes_under_accelerate_launch_equal_one_with_the_same_batch(tmp_path, word_model_dir, sft_file):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    out = tmp_path / "ddp"
    cmd = [accelerate, "launch", "--config_file", str(ACCELERATE_CONFIGS / "cpu-ddp.yaml"), "-m", "selfalign",
           "train", str(sft_file), "-o", str(out), "--model", str(word_model_dir), "--no-progress",
           "--set", "train.max_steps=3", "--set", "train.batch_size=1", "--set", "train.grad_accum=1",
           "--set", "train.learning_rate=3e-3", "--set", "train.gguf=[]", "--set", "train.smoke=false",
           "--set", "train.eval_fraction=0", "--set", "train.warmup_ratio=0", "--set", "train.threads=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert proc.stdout.count("model:") == 1   # the main process alone reports and writes
    card = json.loads((out / "selfalign.json").read_text())
    assert card["training"]["world_size"] == 2 and card["training"]["effective_batch"] == 2

    single = train(sft_file, tmp_path / "single", quick_config(max_steps=3, batch_size=2, learning_rate=3e-3),
                   str(word_model_dir), progress=False)
    assert single["training"]["world_size"] == 1
    a, b = load_file(str(out / "model.safetensors")), load_file(str(tmp_path / "single" / "model.safetensors"))
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-5, worst   # each step saw the same two rows, split over two processes
    assert not torch.equal(a["lm_head.weight"], load_file(str(word_model_dir / "model.safetensors"))["lm_head.weight"])
