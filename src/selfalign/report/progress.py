"""Progress bars for long stages: count, rate, elapsed and ETA, on stderr (stdout stays clean)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


def make_progress(console: Console | None = None) -> Progress:
    return Progress(TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                    TaskProgressColumn(), TextColumn("[cyan]{task.fields[rate]}"),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=console or Console(stderr=True), transient=False)


@contextlib.contextmanager
def stage_progress(name: str, total: int | None) -> Iterator[Callable[[int], None]]:
    with make_progress() as progress:
        task = progress.add_task(name, total=total, rate="")

        def advance(n: int) -> None:
            progress.advance(task, n)
            speed = progress.tasks[task].speed
            progress.update(task, rate=f"{speed:.2f} it/s" if speed else "")

        yield advance
