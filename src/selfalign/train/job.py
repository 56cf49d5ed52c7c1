"""One training job in one output directory: ``train(data, out_dir, cfg, model) -> summary``.

The job runs in steps, each recorded in ``OUT_DIR/train-state.json`` when it finishes, so a
killed job (even ``kill -9``) rerun with the same arguments redoes only what is missing: the
fine-tuning resumes from its newest complete checkpoint; a saved model is not trained again; a
GGUF file that exists is not converted again. The state names the job's identity (the training
settings, the base model and the dataset's hash); a directory holding another job is refused
rather than mixed. The steps:

1. read and split the rows, tokenize them, run the template self-check (``checks.py``);
2. load the model, check that rows sharing a micro-batch (packed or padded) keep apart (``packing.py``);
3. fine-tune (``sft.py``), save the HF directory (LoRA merged) with tokenizer and chat template;
4. reload the saved directory and run the smoke generation;
5. export GGUF files and compare their greedy answers with the HF model's (``export.py``);
6. write ``selfalign.json`` (base model, dataset and hash, config, checks, figures), the loss
   curve, and delete the checkpoints.

Under ``accelerate launch`` every process trains; the main process alone writes files and runs
steps 4-6.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import json
import logging
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from selfalign.config import to_toml
from selfalign.store import atomic_write_text
from selfalign.template import SYSTEM
from selfalign.text import plural
from selfalign.train import checks, data, export, packing
from selfalign.train.config import TrainConfig
from selfalign.train.curve import write_curve
from selfalign.train.model import (BaseModel, TrainError, instruct_chat_template, load_model, load_tokenizer,
                                   require_train_deps, resolve_base, resolve_precision)
from selfalign.train.sft import CHECKPOINTS, build_trainer, fit, make_callbacks

log = logging.getLogger(__name__)

STATE, MODEL_CARD, CONFIG_FILE = "train-state.json", "selfalign.json", "train-config.toml"
NOT_TRAINING = ("gguf", "compare_prompts", "smoke", "smoke_tokens", "keep_checkpoints", "threads",
                "logging_steps", "save_total_limit")
COMPARE_TOKENS = 48


def train(data_path: str | Path, out_dir: str | Path, cfg: TrainConfig, model: str | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Fine-tune ``model`` (default: the embedded SmolLM2-135M) on ``data_path`` into ``out_dir``."""
    require_train_deps()
    import torch
    from accelerate import PartialState

    # cpu=True without CUDA, as the trainer's own arguments will say: a state made without it
    # would see one process where `accelerate launch` started several
    is_main = PartialState(cpu=not torch.cuda.is_available()).is_main_process
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    with _library_bars_off():
        return _run(data_path, Path(out_dir), cfg, model, progress, is_main)


@contextlib.contextmanager
def _library_bars_off() -> Iterator[None]:
    """datasets' and transformers' own tqdm bars off: selfalign.progress is the one report."""
    import datasets
    import transformers

    libraries = [lib.utils.logging for lib in (datasets, transformers)]
    enabled = [lib.is_progress_bar_enabled() for lib in libraries]
    for lib in libraries:
        lib.disable_progress_bar()
    try:
        yield
    finally:
        for lib, was in zip(libraries, enabled):
            if was:
                lib.enable_progress_bar()


def _run(data_path: str | Path, out_dir: Path, cfg: TrainConfig, model: str | None, progress: bool,
         is_main: bool) -> dict[str, Any]:
    base = resolve_base(model or cfg.model)
    rows, source = data.load_rows(data_path)
    ident = identity(cfg, base, source)
    state = _open_state(out_dir, ident)
    if state.get("complete"):
        return json.loads((out_dir / MODEL_CARD).read_text(encoding="utf-8"))
    if is_main:   # the identity goes down first, so a different job cannot resume these checkpoints
        _save_state(out_dir, state)
        atomic_write_text(out_dir / CONFIG_FILE, to_toml(_Section(cfg)))
    if not state.get("trained"):
        state["trained"] = _train_and_save(rows, base, cfg, out_dir, progress, is_main)
        if is_main:
            _save_state(out_dir, state)
    if not is_main:
        return state["trained"]
    if "smoke" not in state:
        state["smoke"] = _smoke(out_dir, cfg, state["trained"])
        _save_state(out_dir, state)
    state["gguf"] = _export(out_dir, cfg, state["trained"]["probe_prompts"], state.get("gguf", {}))
    _save_state(out_dir, state)
    return _finish(out_dir, cfg, base, source, state)


@dataclasses.dataclass
class _Section:
    train: TrainConfig


def identity(cfg: TrainConfig, base: BaseModel, source: data.DataSource) -> dict[str, Any]:
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NOT_TRAINING}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return {"config_hash": digest, "base_model": base.name, "base_sha256": base.sha256,
            "data_sha256": source.sha256}


def _open_state(out_dir: Path, ident: dict[str, Any]) -> dict[str, Any]:
    path = out_dir / STATE
    if not path.exists():
        return {"identity": ident}
    state = json.loads(path.read_text(encoding="utf-8"))
    if state.get("identity") != ident:
        changed = sorted(k for k in ident if state.get("identity", {}).get(k) != ident[k])
        raise TrainError(f"{out_dir} holds a training job with another {', '.join(changed)}; "
                         "use a new output directory (or delete this one) instead of mixing two jobs")
    return state


def _save_state(out_dir: Path, state: dict[str, Any]) -> None:
    atomic_write_text(out_dir / STATE, json.dumps(state, indent=1) + "\n")


def _prepare(rows: list[data.Row], tokenizer: Any, cfg: TrainConfig) -> tuple[Any, Any, data.DataStats, list[str],
                                                                              list[list[int]]]:
    """Split and encode the rows: the datasets, the stats, a few held-out prompts (for the smoke
    generation and the GGUF comparison) and a few encoded rows (for the packing check)."""
    train_rows, eval_rows = data.split_rows(rows, cfg.eval_fraction, cfg.seed)
    stats = data.DataStats(rows=len(rows))
    train_enc = data.encode_rows(train_rows, tokenizer, cfg.template, cfg.max_length, stats)
    eval_enc = data.encode_rows(eval_rows, tokenizer, cfg.template, cfg.max_length, stats)
    stats.train, stats.eval = len(train_enc), len(eval_enc)
    if not train_enc:
        raise TrainError(f"no training rows left: {dict(stats.dropped)} (raise train.max_length?)")
    held_first = (eval_rows + train_rows)[: max(2, cfg.compare_prompts)]
    probes = [data.render(r, cfg.template, tokenizer)[0] for r in held_first]
    return (data.to_dataset(train_enc), data.to_dataset(eval_enc) if eval_enc else None, stats,
            probes, [e.input_ids for e in train_enc[:3]])


def _train_and_save(rows: list[data.Row], base: BaseModel, cfg: TrainConfig, out_dir: Path, show: bool,
                    is_main: bool) -> dict[str, Any]:
    tokenizer = load_tokenizer(base, cfg.trust_remote_code)
    if cfg.template == "instruct":
        tokenizer.chat_template = instruct_chat_template(checks.tokenizer_adds_bos(tokenizer))
    template_report = checks.check_template(rows, tokenizer, cfg.template,
                                             packing.collator(tokenizer.pad_token_id, cfg.packing))
    train_ds, eval_ds, stats, probes, probe_rows = _prepare(rows, tokenizer, cfg)
    if is_main and stats.train < cfg.effective_batch:
        print(f"warning: {plural(stats.train, 'training row')}, fewer than one effective batch "
              f"({cfg.effective_batch} = batch_size x grad_accum): every optimizer step fits the same few "
              "examples, which can cost the model more than it learns (docs/loop.md)", file=sys.stderr)
    precision = resolve_precision(cfg.precision)
    net = load_model(base, precision, cfg.dropout, cfg.attn_implementation, cfg.trust_remote_code)
    original_attn = net.config._attn_implementation
    packed, attention_report = _set_up_attention(net, probe_rows, tokenizer.pad_token_id, cfg.packing)
    callbacks = make_callbacks(out_dir, stats.tokens - _eval_tokens(eval_ds), stats.train, show)
    trainer = build_trainer(net, tokenizer, train_ds, eval_ds, cfg, out_dir, precision, packed, callbacks)
    started = time.monotonic()
    output, resumed_from = fit(trainer, out_dir, is_main)
    seconds = time.monotonic() - started
    final_eval = _final_eval(trainer) if eval_ds is not None else {}
    packing.restore_attention(net, original_attn)
    _save_model(trainer, tokenizer, cfg, out_dir, base, is_main)
    summary = {**_figures(trainer, output, resumed_from, seconds, cfg, precision),
               "eval_loss": final_eval.get("eval_loss"), "data": stats.to_dict(),
               "template_check": template_report, "attention_check": attention_report, "packed": packed,
               "probe_prompts": probes, "longest_response": _longest_response(train_ds),
               "history": trainer.state.log_history}
    del trainer, net
    gc.collect()
    return summary


def _set_up_attention(net: Any, probe_rows: list[list[int]], pad_id: int, want_packed: bool) -> tuple[bool, dict]:
    """Train with VARLEN_SDPA in place of SDPA, packed if asked, when a check shows rows stay apart;
    else padded batches with the model's own attention (checked too). Returns (packed, report)."""
    original = net.config._attn_implementation
    packing.training_attention(net)
    report = packing.isolation_check(net, probe_rows, pad_id, padding_free=want_packed)
    if report["ok"]:
        return want_packed, report
    packing.restore_attention(net, original)
    if want_packed:
        print(f"warning: packed rows are not kept apart by the {report['attention']} attention (loss differs "
              f"by {report['max_diff']:.3g}); training on padded batches", file=sys.stderr)
    fallback = packing.isolation_check(net, probe_rows, pad_id, padding_free=False)
    if not fallback["ok"]:
        raise TrainError(f"rows of a padded batch change each other's loss (by {fallback['max_diff']:.3g}) with "
                         f"the {original} attention; set train.attn_implementation to sdpa or eager")
    return False, {**fallback, "rejected": report}


def _figures(trainer: Any, output: Any, resumed_from: int, seconds: float, cfg: TrainConfig,
             precision: str) -> dict[str, Any]:
    """Speed and memory of this training segment (after a resume: since the resume)."""
    import torch

    state = trainer.state
    tokens = max((h.get("num_tokens", 0) for h in state.log_history if "loss" in h), default=0)
    return {"steps": state.global_step, "resumed_from_step": resumed_from, "seconds": round(seconds, 1),
            "steps_per_s": round((state.global_step - resumed_from) / seconds, 4) if seconds else None,
            "tokens_per_s": round(tokens / seconds, 1) if seconds else None, "tokens": tokens,
            "train_loss": output.training_loss, "epochs": state.epoch, "world_size": trainer.args.world_size,
            "precision": precision, "effective_batch": cfg.batch_size * cfg.grad_accum * trainer.args.world_size,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2 ** 20) if torch.cuda.is_available() else None}


def _final_eval(trainer: Any) -> dict[str, Any]:
    """The held-out loss after the last step: logged already when an evaluation fell on it."""
    last = [h for h in trainer.state.log_history if "eval_loss" in h]
    if last and last[-1].get("step") == trainer.state.global_step:
        return last[-1]
    return trainer.evaluate()


def _longest_response(train_ds: Any) -> int:
    return max(sum(1 for t in labels if t != data.IGNORE) for labels in train_ds["labels"])


def _eval_tokens(eval_ds: Any) -> int:
    return sum(len(ids) for ids in eval_ds["input_ids"]) if eval_ds is not None else 0


def _save_model(trainer: Any, tokenizer: Any, cfg: TrainConfig, out_dir: Path, base: BaseModel,
                is_main: bool) -> None:
    """The HF directory: weights (LoRA merged), config with the cache on, tokenizer, chat template."""
    model = trainer.model
    (getattr(model, "get_base_model", lambda: model)()).config.use_cache = True
    if not cfg.lora:
        trainer.save_model(str(out_dir))   # gathers ZeRO-3 / FSDP shards; the main process writes
    else:
        adapter = out_dir / "adapter"
        trainer.save_model(str(adapter))
        if is_main:
            _merge_adapter(adapter, out_dir, base, cfg)
    if is_main:
        tokenizer.padding_side = "left"   # what generation wants; training set its own
        tokenizer.save_pretrained(str(out_dir))


def _merge_adapter(adapter: Path, out_dir: Path, base: BaseModel, cfg: TrainConfig) -> None:
    """Reload the base and the saved adapter and merge them: works however training was sharded."""
    from peft import PeftModel

    net = load_model(base, resolve_precision(cfg.precision), cfg.dropout, trust_remote_code=cfg.trust_remote_code)
    net.config.use_cache = True
    merged = PeftModel.from_pretrained(net, str(adapter)).merge_and_unload()
    merged.save_pretrained(str(out_dir))
    shutil.rmtree(adapter, ignore_errors=True)


def _smoke(out_dir: Path, cfg: TrainConfig, trained: dict[str, Any]) -> dict[str, Any]:
    """Reload the saved directory and check that its greedy answers stop."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not cfg.smoke:
        return {"skipped": True}
    budget = cfg.smoke_tokens or max(64, round(1.25 * trained["longest_response"]))
    tokenizer = AutoTokenizer.from_pretrained(str(out_dir))
    net = AutoModelForCausalLM.from_pretrained(str(out_dir), trust_remote_code=cfg.trust_remote_code)
    net.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    report = checks.smoke_generate(net, tokenizer, trained["probe_prompts"][:2], cfg.template, budget,
                                   data.adds_special_tokens(cfg.template))
    if not report["ok"]:
        print(f"warning: smoke generation: only {report['stopped']} of {report['of']} answers stopped at EOS "
              f"or ### within {budget} tokens; train longer or check the data", file=sys.stderr)
    return {**report, "max_new_tokens": budget}


def _export(out_dir: Path, cfg: TrainConfig, prompts: list[str], done: dict[str, Any]) -> dict[str, Any]:
    files = dict(done.get("files", {}))
    for outtype in cfg.gguf:
        target = out_dir / "gguf" / f"{out_dir.resolve().name}-{outtype}.gguf"
        if not target.is_file():
            export.export_gguf(out_dir, target, outtype)
        files[outtype] = str(target.relative_to(out_dir))
    report = {"files": files}
    if files and cfg.template != "chat" and cfg.compare_prompts:
        compare = done.get("compare") if done.get("files") == files else None
        report["compare"] = compare or export.compare_greedy(
            out_dir, {t: out_dir / p for t, p in files.items()}, prompts[: cfg.compare_prompts], COMPARE_TOKENS)
    return report


def _finish(out_dir: Path, cfg: TrainConfig, base: BaseModel, source: data.DataSource,
            state: dict[str, Any]) -> dict[str, Any]:
    trained = state["trained"]
    curve = write_curve(trained["history"], out_dir)
    card = {"format": "selfalign", "kind": "model", "version": 1,
            "base_model": base.to_dict(),
            "dataset": {"path": source.path, "files": source.files, "sha256": source.sha256,
                        **trained["data"]},
            "template": {"name": cfg.template, "system": SYSTEM if cfg.template == "instruct" else None},
            "config": dataclasses.asdict(cfg),
            "checks": {"template": trained["template_check"], "attention": trained["attention_check"],
                       "smoke": state["smoke"]},
            "training": {k: v for k, v in trained.items()
                         if k not in ("history", "data", "template_check", "attention_check", "probe_prompts",
                                      "longest_response")},
            "gguf": state["gguf"], "loss_curve": curve, "versions": _versions()}
    atomic_write_text(out_dir / MODEL_CARD, json.dumps(card, indent=1) + "\n")
    state["complete"] = True
    _save_state(out_dir, state)
    if not cfg.keep_checkpoints:
        shutil.rmtree(out_dir / CHECKPOINTS, ignore_errors=True)
    return card


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("selfalign", "torch", "transformers", "trl", "peft", "accelerate", "llama-cpp-python"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out
