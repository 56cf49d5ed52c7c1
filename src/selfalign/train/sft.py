"""The trainer: TRL's ``SFTTrainer`` on rows this package has already tokenized and masked.

Why TRL and what it is handed: TRL brings the padding-free collator (position ids and row
boundaries for packing), the completion-only loss normalised over every label token of the
effective batch, PEFT wiring, and ``accelerate`` (DDP, DeepSpeed, FSDP) through transformers'
``Trainer``. What it is *not* trusted with is tokenization: TRL encodes prompt + completion
together and cuts at the longest common prefix, which moves the prompt/response boundary when a
token merges across it (leaving the prompt's tail out of the prompt, with a warning). ``data.py`` encodes the prompt
alone, exactly as a backend does at inference, and passes ``input_ids`` + ``labels``; TRL takes
such a dataset as already processed. Nothing else needed plain ``Trainer``.

Checkpoints go to ``OUT_DIR/checkpoints``. ``Trainer`` writes ``trainer_state.json`` last, so a
checkpoint without a readable one was cut by a kill and is deleted before resuming from the
newest complete one; model, optimizer, scheduler, RNG states and the data position then continue
where they were, and the final weights match an uninterrupted run's (tested). Progress is counted
in tokens through ``selfalign.progress``, so its rate is tokens/s.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

from selfalign.progress import progress
from selfalign.store import atomic_write_text
from selfalign.train.config import TrainConfig
from selfalign.train.curve import curve_from_history

CHECKPOINTS = "checkpoints"


def make_callbacks(out_dir: Path, train_tokens: int, train_rows: int, enabled: bool) -> list[Any]:
    """The token progress bar and the live loss.json, as transformers ``TrainerCallback``s."""
    from transformers import TrainerCallback

    class TokenProgress(TrainerCallback):
        """Advances ``selfalign.progress`` by the tokens TRL reports at each logging step."""

        def __init__(self) -> None:
            self.stack: Any = None
            self.advance: Any = None
            self.seen = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if not state.is_world_process_zero:
                return
            rows_per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
            steps_per_epoch = max(1, math.ceil(train_rows / rows_per_step))
            total = round(train_tokens / steps_per_epoch * max(0, state.max_steps - state.global_step))
            self.stack = progress("train tokens", total or None, enabled=enabled)
            self.advance = self.stack.__enter__()

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            tokens = (logs or {}).get("num_tokens")
            if self.advance is not None and tokens is not None and "loss" in logs:
                self.advance(int(tokens) - self.seen)
                self.seen = int(tokens)

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.stack is not None:
                self.stack.__exit__(None, None, None)
                self.stack = self.advance = None

    class LiveCurve(TrainerCallback):
        """Rewrites loss.json at each log, so a long run's curve can be watched."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not state.is_world_process_zero:
                return
            atomic_write_text(out_dir / "loss.json", json.dumps(curve_from_history(state.log_history)) + "\n")
            if enabled and "eval_loss" in (logs or {}):
                print(f"step {state.global_step}/{state.max_steps}: held-out loss {logs['eval_loss']:.4f}",
                      file=sys.stderr, flush=True)

    return [TokenProgress(), LiveCurve()]


def sft_args(cfg: TrainConfig, ckpt_dir: Path, precision: str, packed: bool, has_eval: bool) -> Any:
    import torch
    from trl import SFTConfig

    interval = "steps" if cfg.save_steps else "epoch"
    return SFTConfig(
        output_dir=str(ckpt_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.scheduler, warmup_steps=cfg.warmup_ratio, optim=cfg.optimizer,
        weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm,
        bf16=precision.startswith("bf16"), fp16=precision == "fp16", use_cpu=not torch.cuda.is_available(),
        activation_checkpointing=cfg.gradient_checkpointing,
        save_strategy=interval, save_steps=cfg.save_steps or 500, save_total_limit=cfg.save_total_limit,
        eval_strategy=interval if has_eval else "no", eval_steps=cfg.save_steps or None,
        logging_steps=cfg.logging_steps, report_to=[], disable_tqdm=True, seed=cfg.seed, data_seed=cfg.seed,
        # padding-free rows are already length-checked; TRL refuses a max_length it cannot enforce
        max_length=None if packed else cfg.max_length, padding_free=packed, packing=False,
        dataloader_num_workers=0, ddp_find_unused_parameters=False)


def lora_config(cfg: TrainConfig) -> Any:
    from peft import LoraConfig

    targets: Any = cfg.lora_targets if cfg.lora_targets == "all-linear" else [
        t.strip() for t in cfg.lora_targets.split(",") if t.strip()]
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")


def build_trainer(net: Any, tokenizer: Any, train_ds: Any, eval_ds: Any, cfg: TrainConfig, out_dir: Path,
                  precision: str, packed: bool, callbacks: list[Any]) -> Any:
    from trl import SFTTrainer

    from transformers import PrinterCallback

    args = sft_args(cfg, out_dir / CHECKPOINTS, precision, packed, eval_ds is not None)
    trainer = SFTTrainer(model=net, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                         processing_class=tokenizer, peft_config=lora_config(cfg) if cfg.lora else None,
                         callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)   # the token progress and loss.json report instead
    return trainer


def checkpoint_step(path: Path) -> int:
    return int(path.name.rsplit("-", 1)[1])


def latest_checkpoint(ckpt_dir: Path, clean: bool) -> Path | None:
    """The newest checkpoint whose trainer_state.json reads back; with ``clean``, incomplete ones
    (cut by a kill while being written) are deleted so nothing resumes from or rotates them."""
    found = sorted((p for p in ckpt_dir.glob("checkpoint-*") if p.name.rsplit("-", 1)[1].isdigit()),
                   key=checkpoint_step)
    complete = []
    for path in found:
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
            complete.append(path)
        except (OSError, ValueError):
            if clean:
                shutil.rmtree(path, ignore_errors=True)
    return complete[-1] if complete else None


def fit(trainer: Any, out_dir: Path, is_main: bool) -> tuple[Any, int]:
    """Train, resuming from the newest complete checkpoint; returns (TrainOutput, resumed step)."""
    from accelerate import PartialState

    ckpt_dir = out_dir / CHECKPOINTS
    resume = latest_checkpoint(ckpt_dir, clean=is_main)
    PartialState().wait_for_everyone()
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return output, checkpoint_step(resume) if resume else 0
