"""``selfalign report``: the run's HTML report, one file that opens offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = """\
Write one self-contained HTML file about a run directory: the funnel with its drop reasons,
execution statuses and times, the instructions' concepts, categories and difficulties, the
decontamination, the loss curve, the before/after evaluation with the problems that flipped, the
settings and versions, and a sample browser with every row's lineage (seed -> concepts ->
instruction -> responses with their tests and verdicts -> SFT row). Every script is inlined: it
opens with no network, so it can be mailed as it is. `selfalign run` and `selfalign experiment`
write it to RUN_DIR/report.html at the end of a run.

Examples:
  selfalign report runs/demo                      # writes runs/demo/report.html
  selfalign report runs/qwen -o /tmp/qwen.html"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a run's HTML report (one file, opens offline)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="run directory")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write it (default RUN_DIR/report.html)")
    p.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    from selfalign.report.html import write_report

    if not (Path(args.run_dir) / "manifest.json").exists():
        print(f"error: no manifest in {args.run_dir} (has a run started there?)", file=sys.stderr)
        return 2
    print(f"report: {write_report(args.run_dir, args.output).resolve()}")
    return 0


def write_after_run(run_dir: Path) -> Path | None:
    """Write RUN_DIR/report.html after a run; a failure is a warning, never the run's failure."""
    from selfalign.report.html import write_report

    try:
        return write_report(run_dir)
    except Exception as exc:   # the run itself succeeded: the report must not undo that
        print(f"warning: the HTML report could not be written ({type(exc).__name__}: {exc}); "
              f"retry with `selfalign report {run_dir}`", file=sys.stderr)
        return None
