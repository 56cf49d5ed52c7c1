"""``selfalign train``: fine-tune a model on an SFT dataset; a thin shell over ``selfalign.train``.

Settings are the ``[train]`` section of the run's TOML file, then ``--set`` overrides, then the
flags, each a shortcut for one key (the same scheme as ``selfalign eval``).
"""

from __future__ import annotations

import argparse
import sys

HELP = """\
Fine-tune MODEL (default: the embedded SmolLM2-135M) on DATA: a curated dataset folder
(data.jsonl / data.parquet), a run directory (sft.jsonl), a `datasets` folder, or any JSONL /
Parquet file with prompt/completion, messages, or instruction/response columns. Loss is on the
response tokens only; the defaults are StarCoder2-15B-Instruct's recipe (`selfalign config |
grep ^train`). OUT_DIR becomes a Hugging Face model directory (tokenizer, chat template,
selfalign.json) with GGUF exports in OUT_DIR/gguf/, loss.json and loss.png.

Resumable: after an interruption (even kill -9) run the same command again; training continues
from the newest checkpoint. Under several GPUs or nodes run it through accelerate:
  accelerate launch --config_file configs/accelerate/ddp.yaml -m selfalign train DATA -o OUT

Examples:
  selfalign train runs/demo -o models/smol-sft --set train.max_steps=20
  selfalign train qwen-sft/ -o models/qwen --model ~/models/qwen-0.5b --lora --set train.learning_rate=1e-4
  selfalign respond "Reverse a string" --model models/smol-sft/gguf/smol-sft-q8_0.gguf"""

SHORTCUTS = {"model": "train.model", "epochs": "train.epochs", "max_steps": "train.max_steps",
             "lora": "train.lora", "packing": "train.packing", "template": "train.template",
             "learning_rate": "train.learning_rate"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune a model on an SFT dataset (resumable)", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA", help="dataset folder or file")
    p.add_argument("config", nargs="?", metavar="CONFIG", help="TOML config; its [train] section is read")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output model directory")
    p.add_argument("--model", metavar="MODEL", help="base model: HF directory, hub id or GGUF file "
                                                    "(train.model; default: embedded SmolLM2-135M)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set train.max_steps=20 (repeatable)")
    p.add_argument("--epochs", type=float, help="passes over the data (train.epochs)")
    p.add_argument("--max-steps", type=int, help="optimizer steps, 0 = epochs decide (train.max_steps)")
    p.add_argument("--learning-rate", type=float, help="peak learning rate (train.learning_rate)")
    p.add_argument("--lora", action="store_const", const=True, help="train LoRA adapters (train.lora)")
    p.add_argument("--packing", action="store_const", const=True, help="padding-free packing (train.packing)")
    p.add_argument("--template", choices=("instruct", "chat", "raw"), help="prompt template (train.template)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run_train)


def overrides(args: argparse.Namespace) -> list[str]:
    from selfalign.config import toml_value

    items = list(args.overrides)
    for dest, key in SHORTCUTS.items():
        value = getattr(args, dest)
        if value is not None:
            items.append(f"{key}={toml_value(value)}")
    return items


def run_train(args: argparse.Namespace) -> int:
    from selfalign.settings import load_config
    from selfalign.train import train
    from selfalign.train.checks import TemplateError
    from selfalign.train.export import ExportError
    from selfalign.train.model import TrainError

    config = load_config(args.config, overrides(args))
    try:
        summary = train(args.data, args.output, config.train, progress=not args.no_progress)
    except (TrainError, TemplateError, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if summary.get("kind") != "model":
        return 0   # a worker process of a distributed run: the main process reports
    print_summary(args.output, summary)
    smoke = summary["checks"]["smoke"]
    return 0 if smoke.get("ok", True) or smoke.get("skipped") else 1


def print_summary(out_dir: str, card: dict) -> None:
    t, gguf = card["training"], card["gguf"]
    print(f"model:        {out_dir} (HF directory; base {card['base_model']['model']})")
    for outtype, path in gguf.get("files", {}).items():
        compare = gguf.get("compare", {}).get(outtype)
        same = f", greedy answers identical to HF on {compare['identical']}/{compare['of']} prompts" if compare else ""
        print(f"gguf {outtype:<7} {out_dir}/{path}{same}")
    print(f"steps:        {t['steps']} ({t['steps_per_s']} steps/s, {t['tokens_per_s']} tokens/s, "
          f"{t['seconds']} s{', resumed from step %d' % t['resumed_from_step'] if t['resumed_from_step'] else ''})")
    print(f"loss:         train {t['train_loss']:.4f}" + (f", held-out {t['eval_loss']:.4f}" if t["eval_loss"] else ""))
    print(f"rows:         {card['dataset']['train']} train, {card['dataset']['eval']} held out, dropped "
          f"{card['dataset']['dropped'] or 'none'}; peak RSS {t['peak_rss_mb']} MB")
    smoke = card["checks"]["smoke"]
    if not smoke.get("skipped"):
        print(f"smoke:        {smoke['stopped']}/{smoke['of']} greedy answers stopped at EOS or ###")
