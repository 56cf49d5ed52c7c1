"""``selfalign experiment``: the whole self-alignment loop, before/after table and ablation."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = """\
Run the whole self-alignment loop in one run directory: evaluate the base model (eval_base),
mine seeds, generate concepts, instructions and tested responses, execute them in the sandbox,
curate the passing ones, fine-tune the same model on them (train), evaluate the trained model
(eval_trained) and write the before/after table (report/report.md): pass@1 on every [eval]
benchmark, the problems that flipped, the dataset and the training loss.

With --ablation the same model is then trained and evaluated on the same number of rows chosen
by the other selection policies (random: any response; failing: responses that failed their
tests), each in RUN_DIR/ablation/<policy>/, from the same generated data; one table compares them
(report/ablation.md).

Resumable: after an interruption (even kill -9) run the same command again. Every step is
recorded in RUN_DIR/manifest.json; `selfalign status RUN_DIR` shows where a run stands.

Examples:
  selfalign experiment --model ~/models/qwen2.5-coder-0.5b-instruct-q8_0.gguf --limit 200 \\
      --run-dir runs/qwen-loop
  selfalign experiment configs/experiment-qwen-0.5b.toml --ablation"""


def register(sub: argparse._SubParsersAction) -> None:
    from selfalign.cli.pipeline import add_config_options

    p = sub.add_parser("experiment", help="the whole loop: evaluate, generate, train, evaluate again",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_options(p)
    p.add_argument("--export", type=Path, metavar="DIR",
                   help="then write the before and after greedy samples as EvalPlus files "
                        "({before,after}-{humaneval,mbpp}.jsonl) with a README of the command "
                        "and tables into DIR, e.g. experiments/qwen2.5-coder-0.5b")
    p.add_argument("--ablation", action="store_true",
                   help="also train on the same budget of random and failing responses")
    p.set_defaults(func=experiment_command)


def experiment_command(args: argparse.Namespace) -> int:
    import logging

    from rich.console import Console

    from selfalign.cli.pipeline import finished_steps, print_summary, resolve
    from selfalign.cli.report import write_after_run
    from selfalign.evaluate.before_after import render_markdown
    from selfalign.experiment import ablation_markdown, run_experiment
    from selfalign.manifest import Manifest

    config = resolve(args)
    run_dir = Path(config.run.dir)
    before = finished_steps(run_dir)
    reports = run_experiment(config, ablation=args.ablation, progress=not args.no_progress,
                             log=logging.getLogger("selfalign.pipeline").info)
    write_after_run(run_dir)
    print_summary(run_dir, Manifest.read(run_dir / "manifest.json"),
                  nothing_ran=bool(before) and before == finished_steps(run_dir))
    console = Console()
    console.print(render_markdown(next(iter(reports.values()))), markup=False)
    if args.ablation:
        console.print(ablation_markdown(reports), markup=False)
    if args.export:
        import shlex

        from selfalign.experiment import export_samples

        command = "selfalign " + " ".join(shlex.quote(a) for a in args.argv)
        for path in export_samples(run_dir, args.export, command):
            console.print(f"samples:       {path}")
    return 0
