"""`selfalign execute`: run each row's code + tests in the sandbox and write the row back with a verdict.

A thin shell over selfalign.sandbox.Sandbox: parse options, stream rows in, stream rows out.
Trade-off: the input is read twice (once to count lines for the progress bar's ETA, a cheap byte
scan), so the rows themselves can stay streamed and memory flat on any file size.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

from selfalign.sandbox import STATUSES, Limits, Program, Sandbox, SandboxError

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
Malformed lines are reported on stderr with their line number and skipped.
Verdicts are cached by content, so rerunning the same file executes nothing twice."""

EPILOG = """\
examples:
  selfalign execute responses.jsonl -o verdicts.jsonl
  selfalign execute responses.jsonl -o verdicts.jsonl --timeout 5 --memory-mb 2048 --workers 4
  echo '{"id": 1, "code": "def f(x): return x + 1", "tests": "assert f(1) == 2"}' > one.jsonl
  selfalign execute one.jsonl -o out.jsonl && cat out.jsonl"""


def register(subparsers) -> None:
    """Add the `execute` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser("execute", help="run code + tests in the sandbox, write verdicts",
                                   description=DESCRIPTION, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Limits()
    parser.add_argument("input", metavar="IN.jsonl", type=Path, help="rows with id, code, tests")
    parser.add_argument("-o", "--output", metavar="OUT.jsonl", type=Path, required=True,
                        help="where to write the rows with their `exec` verdicts")
    parser.add_argument("--timeout", type=float, default=defaults.timeout_s, metavar="S",
                        help=f"wall-clock limit per program in seconds (default {defaults.timeout_s:g})")
    parser.add_argument("--memory-mb", type=int, default=defaults.memory_mb, metavar="M",
                        help=f"address-space cap per program in MiB (default {defaults.memory_mb})")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="programs run in parallel (default: one per CPU core)")
    parser.add_argument("--isolation", choices=("auto", "bwrap", "rlimits", "none"), default="auto",
                        help="auto: bubblewrap when it works, else rlimits+seccomp+uid; "
                             "none: NO isolation, trusted code only (default auto)")
    parser.add_argument("--cache", type=Path, default=None, metavar="PATH",
                        help="SQLite verdict cache (default: OUT.jsonl.cache.sqlite)")
    parser.add_argument("--no-cache", action="store_true", help="execute everything, cache nothing")
    parser.set_defaults(func=run_execute_command)


def run_execute_command(args: argparse.Namespace) -> int:
    console = Console(stderr=True, soft_wrap=True)  # messages stay one grep-able line
    if not args.input.is_file():
        console.print(f"[red]error:[/] input file {args.input} does not exist")
        return 2
    try:
        limits = Limits(timeout_s=args.timeout, memory_mb=args.memory_mb)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    cache = None if args.no_cache else (args.cache or Path(f"{args.output}.cache.sqlite"))
    try:
        sandbox = Sandbox(limits, workers=args.workers, cache_path=cache, isolation=args.isolation)
    except SandboxError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    with sandbox:
        counts = _execute_file(args.input, args.output, sandbox, console)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    console.print(f"{sum(counts[s] for s in STATUSES)} rows executed "
                  f"({sandbox.isolation}) -> {args.output}: {summary}")
    return 0


def _execute_file(src: Path, dst: Path, sandbox: Sandbox, console: Console) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    rows: dict[str, dict] = {}  # only the rows in flight, so memory stays flat
    tmp = dst.with_name(dst.name + ".partial")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with _progress(console) as progress, open(tmp, "w", encoding="utf-8") as out:
        task = progress.add_task("execute", total=_count_lines(src))
        programs = _read_programs(src, rows, counts, console, lambda: progress.advance(task))
        for program, result in sandbox.run(programs):
            row = rows.pop(program.id)
            row["exec"] = result.to_dict()
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            counts[result.status] += 1
            counts["cached"] += result.cached
            progress.advance(task)
    os.replace(tmp, dst)  # a killed run leaves no half file under the final name
    return counts


def _read_programs(src: Path, rows: dict, counts: collections.Counter, console: Console,
                   skipped) -> Iterator[Program]:
    with open(src, encoding="utf-8", errors="replace") as lines:
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                skipped()
                continue
            try:
                row, program = _parse_row(line, str(lineno))
            except ValueError as exc:
                console.print(f"[yellow]{src}:{lineno}: skipped:[/] {exc}", highlight=False)
                counts["malformed"] += 1
                skipped()
                continue
            rows[program.id] = row
            yield program


def _parse_row(line: str, key: str) -> tuple[dict, Program]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    if not isinstance(row.get("id"), (str, int)) or isinstance(row.get("id"), bool):
        raise ValueError("field 'id' is missing or not a string/number")
    if not isinstance(row.get("code"), str):
        raise ValueError("field 'code' is missing or not a string")
    if not isinstance(row.get("tests", ""), str):
        raise ValueError("field 'tests' must be a string")
    timeout = row.get("timeout_s")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ValueError("field 'timeout_s' must be a positive number")
    return row, Program(id=key, code=row["code"], tests=row.get("tests", ""), timeout_s=timeout)


def _count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            lines, last = lines + chunk.count(b"\n"), chunk[-1:]
    return lines + (last != b"\n")


class _RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:,.0f}/s" if task.speed else "?/s", style="progress.data.speed")


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    _RateColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=console)
