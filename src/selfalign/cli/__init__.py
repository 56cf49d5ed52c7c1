"""The ``selfalign`` command: a thin shell over the library.

Each command module adds its subparser with ``register(subparsers)`` and a handler that parses
options and calls one library function. User mistakes (bad config, missing file, unreachable
server) are printed as one clear line and exit 2; only genuine bugs show a traceback, and
``--verbose`` adds logs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

COMMAND_MODULES = ("pipeline", "experiment", "respond", "execute", "eval", "curate", "train", "report",
                   "quantize")

DESCRIPTION = """\
selfalign: a code LLM aligns itself. It mines seed functions, has the model write concepts,
instructions, answers and their tests, runs every answer in a sandbox, keeps what passes and
curates an SFT dataset for fine-tuning the same model.

Start with `selfalign run` (the demo: embedded SmolLM2-135M, bundled seed corpus), then
`selfalign status RUN_DIR` to see the funnel. `selfalign COMMAND --help` explains each command."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="selfalign", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="print progress logs (to stderr)")
    parser.add_argument("--version", action="version", version=f"selfalign {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"selfalign.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"selfalign.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("selfalign")
    except PackageNotFoundError:
        return "unknown"


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'the user must fix something', printed without a traceback."""
    from selfalign.benchmarks import BenchmarkError
    from selfalign.config import ConfigError
    from selfalign.generate.pool import PoolError
    from selfalign.lineage import LineageError
    from selfalign.llm.base import LLMError
    from selfalign.pipeline import PipelineError
    from selfalign.sandbox import SandboxError
    from selfalign.store import InputError

    return (BenchmarkError, ConfigError, InputError, LineageError, LLMError, PipelineError, PoolError,
            SandboxError, FileNotFoundError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # the command as typed, for records
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:   # `selfalign config | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume where it stopped", file=sys.stderr)
        return 130
    except user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
