"""`selfalign curate IN.jsonl -o OUT_DIR`: executed answers in, a publishable SFT dataset out.

A thin shell over ``selfalign.curate`` (the same code as the pipeline's curate stage): read the
rows line by line, run what the sandbox still has to run (collected pytest/unittest tests, the
stub check) in one batch with the ``[execute]`` settings, and write the dataset folder. Settings
are the ``[curate]`` and ``[execute]`` sections of the run's TOML plus ``--set`` overrides.
Trade-off: the rows are read once and spooled to disk, so the input may be any size, but the
dataset is written only once the last row has been read (selection needs them all).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

DESCRIPTION = """\
Curate executed answers into an SFT dataset (the pipeline's curate stage, on any file).

Each line of IN.jsonl is a JSON object with
  id              any string or number
  instruction     the task
  response        the model's whole answer (reasoning, solution, tests)
  code            the solution          tests   its tests
  exec            the verdict object of `selfalign execute` (at least a status)
  instruction_id  optional; answers to one instruction share it (default: a hash of the instruction)
  seed_id, seed_source, seed_path, seed_license, response_id   optional lineage
(`selfalign execute` output with an `instruction` and `response` added is enough; so are a
run's execute.jsonl and what `selfalign execute` writes for a run's responses.jsonl.)

A pass counts only if its tests run an assertion, call the solution without redefining it, and
fail against a stub of the solution (every function body `return None`); pytest- and
unittest-style tests are collected and run as pytest would. Then one answer per instruction is
chosen (curate.policy, curate.prefer), instructions and answers are deduplicated (exact and
MinHash), checked against the local benchmarks, and the tests are cut from the answer.

OUT_DIR receives data.jsonl, data.parquet, dropped.jsonl (every dropped row with its reason),
README.md (the dataset card) and config.toml; `datasets.load_dataset(OUT_DIR)` reads it.
Malformed lines are reported on stderr with their line number and listed in dropped.jsonl."""

EPILOG = """\
examples:
  selfalign curate verdicts.jsonl -o dataset/
  selfalign curate verdicts.jsonl -o dataset/ run.toml --set curate.policy=random
  selfalign curate runs/qwen/execute.jsonl -o qwen-sft/ --run-dir runs/qwen
  selfalign execute runs/qwen/responses.jsonl -o verdicts.jsonl && selfalign curate verdicts.jsonl -o qwen-sft/
  selfalign curate verdicts.jsonl -o dataset/ --set curate.augment_p=0.5 --set execute.workers=4"""

ALLOWED_KEYS = ("curate.", "execute.", "run.seed")


def register(subparsers) -> None:
    """Add the `curate` subcommand."""
    p = subparsers.add_parser("curate", help="curate executed answers into an SFT dataset folder",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN.jsonl", type=Path, help="rows with id, instruction, response, "
                   "code, tests, exec (a run's execute.jsonl works too)")
    p.add_argument("-o", "--output", metavar="OUT_DIR", type=Path, required=True, help="the dataset folder")
    p.add_argument("config", nargs="?", help="TOML config; its [curate] and [execute] sections are read")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a curate.* or execute.* setting (or run.seed), e.g. "
                        "--set curate.policy=random (repeatable; `selfalign config` lists them)")
    p.add_argument("--run-dir", type=Path, help="the run the rows come from: its manifest (model, "
                   "settings, funnel) goes into the card, its seeds give the lineage fields")
    p.add_argument("--name", default=None, help="dataset name in the card (default: OUT_DIR's name)")
    p.add_argument("--cache", type=Path, default=None, metavar="PATH",
                   help="SQLite verdict cache of the sandbox runs (default: OUT_DIR.exec_cache.sqlite)")
    p.add_argument("--no-sandbox", action="store_true", help="run nothing: no stub check, and "
                   "uncollected pytest/unittest tests count as not run")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run_curate_command)


def curate_settings(args: argparse.Namespace):
    from selfalign.config import ConfigError, parse_assignment
    from selfalign.settings import load_config

    for item in args.overrides:
        key, _ = parse_assignment(item)
        if not key.startswith(ALLOWED_KEYS):
            raise ConfigError(f"--set {item!r}: selfalign curate reads only curate.*, execute.* and run.seed")
    return load_config(args.config, args.overrides)


def read_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """(``file:line``, row) per non-blank line; a line that is not JSON comes as a RowError."""
    from selfalign.curate.rows import RowError
    from selfalign.store import is_header, json_line

    with open(path, encoding="utf-8", errors="replace") as lines:
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json_line(line)
            except ValueError as exc:
                row = RowError(str(exc), line[:2000])
            if is_header(row):
                continue                      # a stage file's header line
            yield f"{path}:{lineno}", row


def _lineage(run_dir: Path | None) -> tuple[Any, dict]:
    from selfalign.curate.card import CardInfo, info_from_manifest
    from selfalign.curate.rows import seed_lineage
    from selfalign.manifest import Manifest
    from selfalign.store import read_records

    if run_dir is None:
        return CardInfo(), {}
    info = info_from_manifest(Manifest.read(run_dir / "manifest.json"), source=str(run_dir))
    seeds_file = run_dir / "seeds.jsonl"
    seeds = seed_lineage(read_records(seeds_file, "seed")) if seeds_file.exists() else {}
    return info, seeds


def _verdict_rows(rows: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """Pipeline records as curation rows: a run's execute.jsonl holds Verdict records, and
    `selfalign execute` on a run's responses.jsonl writes each Response with its ``exec``."""
    from selfalign.curate.rows import row_from_verdict
    from selfalign.records import RecordError, Verdict

    for where, row in rows:
        if isinstance(row, dict) and "solution" in row and "code" not in row:
            if "status" in row:
                try:
                    row = row_from_verdict(Verdict.from_dict(row))
                except RecordError:
                    pass                      # reported as malformed below
            elif "exec" in row:               # a Response: its parent is the instruction
                row = {**row, "code": row["solution"], "response_id": row.get("id"),
                       "instruction_id": row.get("instruction_id") or row.get("parent_id")}
        yield where, row


def run_curate_command(args: argparse.Namespace) -> int:
    from selfalign.config import ConfigError, to_toml
    from selfalign.curate.curation import Curation
    from selfalign.curate.dataset import write_dataset
    from selfalign.progress import progress
    from selfalign.sandbox import Sandbox, SandboxError

    if not args.input.is_file():
        print(f"error: input file {args.input} does not exist", file=sys.stderr)
        return 2
    try:
        config = curate_settings(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    info, seeds = _lineage(args.run_dir)
    info.name = args.name or args.output.resolve().name
    info.input = info.input or str(args.input)
    info.curate = vars(config.curate) | {"seed": config.run.seed}
    sandbox = None
    if not args.no_sandbox:
        execute = config.execute
        try:
            sandbox = Sandbox(execute.limits, workers=execute.workers or None, isolation=execute.isolation,
                              cache_path=args.cache or Path(f"{args.output}.exec_cache.sqlite"))
        except SandboxError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    show = not args.no_progress
    curation = Curation(config.curate, config.run.seed, sandbox, seeds=seeds,
                        progress=lambda label, total: progress(label, total, enabled=show))
    try:
        with progress("curate: reading", None, enabled=show) as advance:
            rows = _counted(_verdict_rows(read_rows(args.input)), advance)
            summary = write_dataset(args.output, _reported(curation.run(rows)), curation.report, info,
                                    config.curate.system_message)
    finally:
        if sandbox is not None:
            sandbox.close()
    (args.output / "config.toml").write_text(to_toml(config), encoding="utf-8")
    _print_summary(args.output, curation.report.rows_in, summary.examples, summary.dropped)
    return 0


def _counted(rows: Iterator[tuple[str, Any]], advance) -> Iterator[tuple[str, Any]]:
    for item in rows:
        advance(1)
        yield item


def _reported(items):
    """Curation's output, with each malformed row named on stderr as it passes."""
    for item in items:
        if getattr(item, "reason", None) == "malformed":
            print(f"{item.detail}: skipped", file=sys.stderr, flush=True)
        yield item


def _print_summary(out: Path, rows_in: int, examples: int, dropped: Counter) -> None:
    reasons = ", ".join(f"{reason} {n}" for reason, n in dropped.most_common())
    from selfalign.text import plural

    print(f"{plural(rows_in, 'row')} -> {plural(examples, 'example')} in {out}"
          + (f"; dropped: {reasons}" if reasons else ""))
