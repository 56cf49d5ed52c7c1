"""One progress helper for every long step: a rich bar on a terminal, plain lines elsewhere.

``with progress("execute", total=n) as advance: ... advance(k)`` shows count, rate, elapsed and
ETA. On a terminal (stderr is a TTY) that is a rich bar; when stderr is a pipe, a file or CI, it
is one plain line every ``every_s`` seconds (and one at the end), so a piped run is never silent
for minutes and a log file is not flooded with redraws. ``total=None`` counts without an ETA.
The trade-off: a plain line is written only when ``advance`` is called, so a single call that
blocks for long prints nothing until it returns; callers advance per item or per chunk.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator, TextIO

Advance = Callable[[int], None]


def _fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def progress_line(label: str, done: int, total: int | None, elapsed: float) -> str:
    """``label: 120/400 (30%), 4.1/s, 0:29 elapsed, eta 1:08`` (parts left out when unknown)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    parts = [f"{done}/{total} ({done / total:.0%})" if total else f"{done}"]
    parts.append(f"{rate:.3g}/s" if rate else "0/s" if elapsed > 0 else "?/s")   # ? only before time passes
    parts.append(f"{_fmt_duration(elapsed)} elapsed")
    if total and rate and done < total:
        parts.append(f"eta {_fmt_duration((total - done) / rate)}")
    return f"{label}: " + ", ".join(parts)


class PlainProgress:
    """Periodic one-line reports for non-terminal output."""

    def __init__(self, label: str, total: int | None, stream: TextIO, every_s: float) -> None:
        self.label, self.total, self.stream, self.every_s = label, total, stream, every_s
        self.done = 0
        self.shown = -1      # the count of the last line written
        self.start = self.last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            self.emit(now)

    def emit(self, now: float | None = None) -> None:
        elapsed = (now or time.monotonic()) - self.start
        print(progress_line(self.label, self.done, self.total, elapsed), file=self.stream, flush=True)
        self.shown = self.done

    def close(self) -> None:
        """The closing line, unless the last periodic line already said the same count."""
        if self.shown != self.done:
            self.emit()


@contextlib.contextmanager
def progress(label: str, total: int | None = None, *, enabled: bool = True,
             stream: TextIO | None = None, every_s: float = 30.0) -> Iterator[Advance]:
    """Yield ``advance(n)``; see the module docstring. ``enabled=False`` reports nothing."""
    stream = stream or sys.stderr
    if not enabled:
        yield lambda n=1: None
        return
    if not stream.isatty():
        plain = PlainProgress(label, total, stream, every_s)
        yield plain.advance
        plain.close()
        return
    with _rich_bar(stream) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)


def _rich_bar(stream: TextIO):
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    class Rate(TextColumn):
        def __init__(self) -> None:
            super().__init__("")

        def render(self, task):  # type: ignore[override]
            from rich.text import Text

            return Text(f"{task.speed:,.3g}/s" if task.speed else "?/s", style="progress.data.speed")

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=Console(file=stream), transient=False)
