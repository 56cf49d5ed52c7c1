"""``selfalign eval``: score a model (or a sample file) on code benchmarks; compare two runs."""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

HELP = """\
Evaluate a model on HumanEval(+), MBPP(+), DS-1000 and LiveCodeBench, scored in selfalign's
sandbox. Greedy by default (pass@1); --n and --temperature for pass@k. Samples are appended to
OUTPUT/<benchmark>.samples.jsonl, so rerunning a killed eval resumes it. --samples FILE rescores
existing samples (human-eval `completion` or EvalPlus `solution` rows) without a model.
--compare A B shows two results (directories or results.json files) side by side."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model on code benchmarks", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="GGUF file, model dir, hub id or server URL (default: embedded SmolLM2-135M)")
    p.add_argument("--backend", default=None, help="llamacpp, transformers, openai or vllm")
    p.add_argument("--benchmark", action="append", dest="benchmarks", metavar="NAME",
                   help="humaneval, humaneval+, humaneval+mini, mbpp, mbpp+, ds1000, livecodebench "
                        "(repeatable; default humaneval)")
    p.add_argument("--data", action="append", default=[], metavar="NAME=PATH",
                   help="data file for a benchmark (needed for ds1000 and livecodebench)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="backend option, e.g. n_threads=1 (repeatable; values parsed as JSON when they can be)")
    p.add_argument("--samples", default=None, metavar="FILE", help="rescore this sample file instead of generating")
    p.add_argument("-o", "--output", default="eval-out", help="output directory (default eval-out)")
    p.add_argument("--n", type=int, default=1, help="samples per problem (default 1)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--max-tokens", type=int, default=512, help="new tokens per sample (default 512)")
    p.add_argument("--limit", type=int, default=None, help="only the first N problems of each benchmark")
    p.add_argument("--base", action="store_true", help="base model: plain completion, no instruct template")
    p.add_argument("--prefix", choices=("prompt", "fence"), default="prompt",
                   help="instruct response prefix for HumanEval: a fence plus the repeated prompt "
                        "(default, as in PIPELINE.md) or the fence alone")
    p.add_argument("--workers", type=int, default=None, help="sandbox workers (default: CPU count)")
    p.add_argument("--min-time-limit", type=float, default=None,
                   help="floor of each test's limit, in CPU seconds (default 0.25; EvalPlus: 4 s of wall time)")
    p.add_argument("--time-limit-factor", type=float, default=4.0, help="x the reference run time (default 4)")
    p.add_argument("--lcb-start", default=None, help="LiveCodeBench: first contest date (YYYY-MM-DD)")
    p.add_argument("--lcb-end", default=None, help="LiveCodeBench: last contest date (YYYY-MM-DD)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="show two results side by side")
    p.set_defaults(func=run_eval_command)


@contextmanager
def _progress() -> Iterator:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=False) as bars:
        def start(label: str, total: int):
            task = bars.add_task(label, total=total)
            return lambda n=1: bars.advance(task, n)
        yield start


def _config(args: argparse.Namespace):
    from selfalign.evaluate.evaluate import EvalConfig
    from selfalign.evaluate.generate import GenerationConfig
    from selfalign.evaluate.programs import TimeLimits
    from selfalign.evaluate.score import ScoreConfig

    data = dict(item.split("=", 1) for item in args.data if "=" in item)
    return EvalConfig(
        benchmarks=args.benchmarks or ["humaneval"], output_dir=Path(args.output), limit=args.limit,
        data_paths=data, livecodebench_start=args.lcb_start, livecodebench_end=args.lcb_end,
        generation=GenerationConfig(n=args.n, temperature=args.temperature,
                                    max_tokens=args.max_tokens, base=args.base,
                                    repeat_prompt=args.prefix == "prompt"),
        score=ScoreConfig(workers=args.workers,
                          time=TimeLimits(floor_s=TimeLimits.floor_s if args.min_time_limit is None
                                          else args.min_time_limit, factor=args.time_limit_factor)))


def run_eval_command(args: argparse.Namespace) -> int:
    from selfalign.benchmarks import BenchmarkError
    try:
        if args.compare:
            return _compare(*args.compare)
        return _evaluate(args)
    except (BenchmarkError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _evaluate(args: argparse.Namespace) -> int:
    from selfalign.evaluate.tables import print_results
    from selfalign.evaluate.evaluate import run_eval

    config = _config(args)
    llm = None
    if args.samples is None:
        from selfalign.cache import CachedLLM
        from selfalign.llm import load_llm

        llm = CachedLLM(load_llm(args.model, args.backend, _options(args.option)),
                        config.output_dir / "llm-cache.sqlite")
    try:
        with _progress() as progress:
            results = run_eval(config, llm, args.samples, progress,
                               run_info={"base": args.base, "argv": sys.argv[1:]})
    finally:
        if llm is not None:
            llm.close()
    print_results(results, config.output_dir / "results.json")
    return 0


def _options(items: list[str]) -> dict:
    import json

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--option {item!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _compare(a: str, b: str) -> int:
    from selfalign.evaluate.tables import print_comparison
    from selfalign.evaluate.compare import compare_results
    from selfalign.evaluate.results import read_results

    print_comparison(compare_results(read_results(a), read_results(b)), a, b)
    return 0
