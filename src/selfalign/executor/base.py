"""The executor seam: a stage's work is a list of chunk tasks, deterministic by index.

A task is a chunk index plus its ``(input index, record)`` items; running it means building the
stage (``make_stage``, once per process that runs tasks) and collecting ``stage.run(items)``.
The pipeline passes a ``StageBuilder``: callable, and it names the stage and the run context, so
an executor that runs tasks in other processes can rebuild it there (``RunContext.for_worker``).
Executors may run tasks anywhere and in any order, but they hand every finished task to
``commit``, on the calling thread only, so the part files, caches and manifest have one writer.
Because a chunk's output depends only on its items (per-item seeds, cached LLM calls), any
executor produces the same files.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from selfalign.records import Dropped, Record

if TYPE_CHECKING:
    from selfalign.stages.base import Stage

Outcome = Record | Dropped


@dataclass(frozen=True)
class ChunkTask:
    index: int
    items: list[tuple[int, Any]]


class Executor(ABC):
    @abstractmethod
    def run(self, make_stage: Callable[[], "Stage"], tasks: Iterable[ChunkTask],
            commit: Callable[[ChunkTask, list[Outcome]], None]) -> None:
        """Run every task and ``commit`` each one's outcomes as it finishes."""
