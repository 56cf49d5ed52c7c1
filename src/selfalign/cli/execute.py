"""`selfalign execute`: run each row's code + tests in the sandbox and write the row back with a verdict.

A thin shell over selfalign.sandbox.Sandbox: parse options, stream rows in, stream rows out.
The settings are the ``[execute]`` section of the run's TOML (``--config``, ``--set``); the limit
flags are shortcuts for its keys, so a standalone run and the pipeline's execute stage share
one set of defaults. Trade-off: the input is read twice (once to count lines for the progress
ETA, a cheap byte scan), so the rows themselves can stay streamed and memory flat on any size.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from selfalign.progress import progress
from selfalign.sandbox import STATUSES, Limits, Program, Sandbox, SandboxError
from selfalign.sandbox.config import ISOLATION_LEVELS
from selfalign.store import is_header, json_line
from selfalign.text import plural

DESCRIPTION = """\
Run untrusted code in the sandbox, one verdict per input row.

Each line of IN.jsonl is a JSON object with
  id         any string or number, copied to the output
  code       the solution (Python source)
  tests      optional; run after the code, in the same program (e.g. asserts)
  timeout_s  optional; this row's own time limit, overriding --timeout
Each output row is the input row plus "exec": {status, exit_code, wall_s, cpu_s, peak_mb,
error_type, error, stdout_tail, stderr_tail, isolation}. status is one of
  pass     the tests ran to the end without an exception
  fail     an exception or failed assert (error_type / error say which), or an early exit
  timeout  past the time limit          memory   past the memory cap (MemoryError)
  crash    killed by a signal or exited abnormally
  blocked  the sandbox refused something the program needed (network, a read-only path, ...)
A run's responses.jsonl (or execute.jsonl) is read as it is: its header line is skipped, and
each response's `solution` is the code, run with its `tests` collected pytest-style, as the
pipeline's execute stage runs them (`test_*` functions and TestCase classes are called).
Malformed lines are reported on stderr with their line and column and skipped; when no row at
all could be executed the command fails (exit status 2).
Verdicts are cached by content, so rerunning the same file executes nothing twice."""

EPILOG = """\
examples:
  selfalign execute runs/demo/responses.jsonl -o verdicts.jsonl
  selfalign execute responses.jsonl -o verdicts.jsonl --timeout 5 --memory-mb 2048 --workers 4
  selfalign execute responses.jsonl -o verdicts.jsonl --config run.toml \
      --set execute.limits.max_processes=8
  echo '{"id": 1, "code": "def f(x): return x + 1", "tests": "assert f(1) == 2"}' > one.jsonl
  selfalign execute one.jsonl -o out.jsonl && cat out.jsonl"""


def register(subparsers) -> None:
    """Add the `execute` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser("execute", help="run code + tests in the sandbox, write verdicts",
                                   description=DESCRIPTION, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Limits()
    parser.add_argument("input", metavar="IN.jsonl", type=Path,
                        help="rows with id, code, tests (or a run's responses.jsonl)")
    parser.add_argument("-o", "--output", metavar="OUT.jsonl", type=Path, required=True,
                        help="where to write the rows with their `exec` verdicts")
    parser.add_argument("--config", metavar="FILE", help="TOML config; its [execute] section sets "
                        "workers, isolation and [execute.limits] (other sections are ignored)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override an execute.* setting, e.g. --set execute.limits.file_size_mb=16 "
                             "(repeatable; the flags below are shortcuts for such keys)")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help=f"wall-clock limit per program in seconds (default {defaults.timeout_s:g}; "
                             "execute.limits.timeout_s)")
    parser.add_argument("--memory-mb", type=int, metavar="M",
                        help=f"address-space cap per program in MiB (default {defaults.memory_mb}; "
                             "execute.limits.memory_mb)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="programs run in parallel (default: one per CPU core; execute.workers)")
    parser.add_argument("--isolation", choices=ISOLATION_LEVELS,
                        help="auto: a bubblewrap level (root, else a user namespace), or refuse; "
                             "rlimits: no namespaces; none: NO isolation, trusted code only "
                             "(default auto; execute.isolation)")
    parser.add_argument("--cache", type=Path, default=None, metavar="PATH",
                        help="SQLite verdict cache (default: OUT.jsonl.cache.sqlite)")
    parser.add_argument("--no-cache", action="store_true", help="execute everything, cache nothing")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run_execute_command)


# flag dest -> the [execute] key it sets
SHORTCUTS = {"timeout": "execute.limits.timeout_s", "memory_mb": "execute.limits.memory_mb",
             "workers": "execute.workers", "isolation": "execute.isolation"}


def execute_settings(args: argparse.Namespace):
    """The ``[execute]`` section: the file, then ``--set``, then the flags (the flags win)."""
    from selfalign.config import ConfigError, parse_assignment, shortcut_overrides
    from selfalign.settings import load_config

    for item in args.overrides:
        key, _ = parse_assignment(item)
        if not key.startswith("execute."):
            raise ConfigError(f"--set {item!r}: selfalign execute reads only execute.* keys")
    shortcuts = shortcut_overrides({key: getattr(args, dest) for dest, key in SHORTCUTS.items()})
    return load_config(args.config, args.overrides + shortcuts).execute


def run_execute_command(args: argparse.Namespace) -> int:
    from selfalign.config import ConfigError

    console = Console(stderr=True, soft_wrap=True)  # messages stay one grep-able line
    if not args.input.is_file():
        console.print(f"[red]error:[/] input file {escape(str(args.input))} does not exist")
        return 2
    try:
        settings = execute_settings(args)
    except ConfigError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    problem = _unreadable_kind(args.input)
    if problem:
        console.print(f"[red]error:[/] {escape(problem)}")
        return 2
    cache = None if args.no_cache else (args.cache or Path(f"{args.output}.cache.sqlite"))
    try:
        sandbox = Sandbox(settings.limits, workers=settings.workers or None, cache_path=cache,
                          isolation=settings.isolation)
    except SandboxError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    with sandbox:
        counts = _execute_file(args.input, args.output, sandbox, not args.no_progress)
    executed = sum(counts[s] for s in STATUSES)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    console.print(f"{plural(executed, 'row')} executed ({sandbox.isolation}) -> {args.output}"
                  + (f": {summary}" if summary else ""), highlight=False)
    if executed == 0:
        skipped = counts["malformed"]
        why = ("it holds no rows" if not skipped else "its only row was skipped (see above)"
               if skipped == 1 else f"all {skipped} rows were skipped (see above)")
        console.print(f"[red]error:[/] no row of {escape(str(args.input))} could be executed: {why}")
        return 2
    return 0


# Stage files whose rows carry a solution and its tests (Response and Verdict records).
CODE_KINDS = ("response", "verdict")


def _unreadable_kind(src: Path) -> str | None:
    """Why a stage file holds rows without code (e.g. a run's seeds.jsonl), else None."""
    from selfalign.store import file_header

    head = file_header(src)
    if head is None or head["kind"] in CODE_KINDS:
        return None
    return (f"{src} holds {head['kind']!r} records, which carry no code to run; give rows with id, "
            f"code and tests, or a run's responses.jsonl")


def _execute_file(src: Path, dst: Path, sandbox: Sandbox, show_progress: bool = True) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    rows: dict[str, dict] = {}  # only the rows in flight, so memory stays flat
    tmp = dst.with_name(dst.name + ".partial")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with progress("execute", _count_lines(src), enabled=show_progress) as advance, \
            open(tmp, "w", encoding="utf-8") as out:
        programs = _read_programs(src, rows, counts, lambda: advance(1))
        for program, result in sandbox.run(programs):
            row = rows.pop(program.id)
            row["exec"] = result.to_dict()
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            counts[result.status] += 1
            counts["cached"] += result.cached
            advance(1)
    os.replace(tmp, dst)  # a killed run leaves no half file under the final name
    return counts


def _read_programs(src: Path, rows: dict, counts: collections.Counter,
                   skipped) -> Iterator[Program]:
    with open(src, encoding="utf-8", errors="replace") as lines:
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                skipped()
                continue
            try:
                row = json_line(line)
                if is_header(row):        # a stage file's header line
                    skipped()
                    continue
                program = _program(row, str(lineno))
            except ValueError as exc:
                # plain print: on a terminal it goes through the progress bar's stderr
                # redirect and lands above the bar (a rich Console would bypass it)
                print(f"{src}:{lineno}: skipped: {exc}", file=sys.stderr, flush=True)
                counts["malformed"] += 1
                skipped()
                continue
            rows[program.id] = row
            yield program


def _program(row: object, key: str) -> Program:
    """The program of one row: ``code`` + ``tests`` as given, or a pipeline response's
    ``solution`` + its ``tests`` collected pytest-style (what the execute stage runs)."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    if not isinstance(row.get("id"), (str, int)) or isinstance(row.get("id"), bool):
        raise ValueError("field 'id' is missing or not a string/number")
    pipeline_row = "code" not in row and "solution" in row
    field = "solution" if pipeline_row else "code"
    if not isinstance(row.get(field), str):
        raise ValueError(f"field {field!r} is missing or not a string")
    if not isinstance(row.get("tests", ""), str):
        raise ValueError("field 'tests' must be a string")
    timeout = row.get("timeout_s")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ValueError("field 'timeout_s' must be a positive number")
    tests = row.get("tests", "")
    if pipeline_row:
        from selfalign.curate.collect import collect_tests

        tests = collect_tests(tests)
    return Program(id=key, code=row[field], tests=tests, timeout_s=timeout)


def _count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            lines, last = lines + chunk.count(b"\n"), chunk[-1:]
    return lines + (last != b"\n")
