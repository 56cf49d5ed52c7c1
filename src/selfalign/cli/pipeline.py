"""``selfalign run``, the single-stage commands, ``status`` and ``config``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RUN_HELP = """\
Run the pipeline's steps: by default seeds -> concepts -> instructions -> responses -> execute ->
curate, which write an SFT dataset (sft.jsonl, dataset/) in the run directory; run.steps adds
eval_base, train, eval_trained and report (`selfalign experiment` runs them all). With no CONFIG
it runs the demo defaults: the embedded SmolLM2-135M model on the bundled seed corpus.

Resumable: after an interruption (even kill -9) run the same command again; finished chunks are
skipped and every LLM call already made comes from the run's cache.

Examples:
  selfalign run                                   # the demo, into runs/demo
  selfalign run my.toml --set responses.n=10      # a config file plus overrides
  selfalign run --model ~/models/qwen-0.5b.gguf --limit 200 --run-dir runs/qwen"""

STAGE_HELP = {
    "seeds": "mine docstring'd functions from the configured sources (stage 0)",
    "concepts": "S->C: list the programming concepts of each seed (stage 1)",
    "instructions": "C->I: write a new task from each concept list (stage 2)",
    "responses": "I->R: answer each task n times with solution and tests (stage 3)",
}
# What each stage command reads: seeds the corpus, the others the stage before them.
STAGE_INPUT = {
    "seeds": "It reads the corpora in seeds.sources (or --source) and needs no earlier stage.",
    "concepts": "Its input stage, seeds, must have finished in the same run directory.",
    "instructions": "Its input stage, concepts, must have finished in the same run directory.",
    "responses": "Its input stage, instructions, must have finished in the same run directory.",
}


def add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="TOML config file (default: the demo defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set responses.n=4 (repeatable; "
                        "see `selfalign config` for every key)")
    p.add_argument("--run-dir", help="run directory (same as --set run.dir=...)")
    p.add_argument("--model", help="GGUF file, model directory, hub id or server URL "
                                   "(same as --set model.model=...)")
    p.add_argument("--limit", type=int, help="seeds that go on to generation, 0 = all "
                                             "(same as --set run.limit=...)")
    p.add_argument("--executor", choices=("local", "ray"),
                   help="run the stages' chunks in this process (local, the default) or on a Ray "
                        "cluster (same as --set run.executor=...; see docs/scaling.md)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the whole pipeline (resumable)", description=RUN_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_options(p)
    p.add_argument("--restart-from", metavar="STAGE",
                   help="forget this stage's and later stages' outputs, then run")
    p.set_defaults(func=run_command, only=None)
    for name, text in STAGE_HELP.items():
        s = sub.add_parser(name, help=text,
                           description=f"Run one stage of the pipeline: {text}. {STAGE_INPUT[name]}")
        add_config_options(s)
        if name == "seeds":
            s.add_argument("--source", action="append", default=None, metavar="PATH",
                           help="a corpus to mine (directory, git repo, .jsonl/.parquet); repeatable")
        s.set_defaults(func=run_command, only=[name], restart_from=None)
    st = sub.add_parser("status", help="show a run's funnel and files",
                        description="Print the funnel table of a run directory from its manifest.")
    st.add_argument("run_dir", nargs="?", default="runs/demo", help="run directory (default runs/demo)")
    st.add_argument("--json", action="store_true", help="print the manifest's stages as JSON")
    st.set_defaults(func=status_command)
    c = sub.add_parser("config", help="list every setting with its default and meaning",
                       description="Print every config key with its default and help, or with "
                                   "CONFIG the resolved config as TOML.")
    c.add_argument("config", nargs="?", help="a TOML config to resolve and print")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    c.set_defaults(func=config_command)


def resolve(args: argparse.Namespace):
    from selfalign.config import shortcut_overrides
    from selfalign.settings import load_config

    shortcuts = {"run.dir": args.run_dir, "model.model": args.model, "run.limit": args.limit,
                 "run.executor": getattr(args, "executor", None),
                 "seeds.sources": getattr(args, "source", None)}
    return load_config(args.config, list(args.overrides) + shortcut_overrides(shortcuts))


def run_command(args: argparse.Namespace) -> int:
    import logging

    from selfalign.cli.report import write_after_run
    from selfalign.pipeline import run_pipeline

    config = resolve(args)
    log = logging.getLogger("selfalign.pipeline").info
    before = finished_steps(Path(config.run.dir))
    manifest = run_pipeline(config, only=args.only, restart_from=args.restart_from,
                            progress=not args.no_progress, log=log)
    write_after_run(Path(config.run.dir))
    print_summary(Path(config.run.dir), {"stages": manifest.stages, "config": manifest.config},
                  nothing_ran=bool(before) and before == finished_steps(Path(config.run.dir)))
    return 0


def finished_steps(run_dir: Path) -> dict[str, float | None]:
    """When each step of a run last finished, from its manifest ({} when there is none)."""
    from selfalign.manifest import Manifest
    from selfalign.store import InputError

    path = run_dir / "manifest.json"
    if not path.is_file():
        return {}
    try:
        stages = Manifest.read(path).get("stages", {})
    except InputError:
        return {}
    return {name: entry.get("finished") for name, entry in stages.items()}


def print_summary(run_dir: Path, manifest: dict, nothing_ran: bool = False) -> None:
    from rich.console import Console

    from selfalign.report.funnel import funnel_table

    console = Console()
    console.print(funnel_table(manifest))
    if nothing_ran:
        console.print("already complete: every step had finished, so nothing ran (the times are "
                      "the earlier run's); --restart-from STEP redoes a step and those after it")
    levels = manifest.get("stages", {}).get("execute", {}).get("isolation")
    if levels:
        console.print(f"sandbox:       {', '.join(levels)} (the isolation every verdict ran under)")
    console.print(f"run directory: {run_dir.resolve()}")
    sft = run_dir / "sft.jsonl"
    if sft.exists():
        console.print(f"SFT dataset:   {sft.resolve()}")
    console.print(f"manifest:      {(run_dir / 'manifest.json').resolve()}")
    report = run_dir / "report" / "report.md"
    if report.exists():
        console.print(f"report:        {report.resolve()}")
    html = run_dir / "report.html"
    if html.exists():
        console.print(f"HTML report:   {html.resolve()}")


def status_command(args: argparse.Namespace) -> int:
    from selfalign.manifest import Manifest

    path = Path(args.run_dir) / "manifest.json"
    if not path.exists():
        print(f"error: no manifest in {args.run_dir} (has a run started there?)", file=sys.stderr)
        return 2
    data = Manifest.read(path)
    if args.json:
        print(json.dumps(data["stages"], indent=2))
    else:
        print_summary(Path(args.run_dir), data)
    return 0


def config_command(args: argparse.Namespace) -> int:
    from selfalign.settings import Config, describe, load_config, to_toml

    if args.config or args.overrides:
        print(to_toml(load_config(args.config, args.overrides)), end="")
        return 0
    for key, default, text in describe(Config):
        print(f"{key:<32} {default:<24} {text}")
    return 0
