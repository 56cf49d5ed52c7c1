"""Run a stage's chunk tasks in this process, one after another, in index order.

The stage is built on the first task, so a stage whose chunks are all finished never loads
its model; a task's outcomes are committed before the next one starts, so a kill loses at most
the chunk in flight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from selfalign.executor.base import ChunkTask, Executor, Outcome

if TYPE_CHECKING:
    from selfalign.stages.base import Stage


class LocalExecutor(Executor):
    def run(self, make_stage: Callable[[], "Stage"], tasks: Iterable[ChunkTask],
            commit: Callable[[ChunkTask, list[Outcome]], None]) -> None:
        stage: Stage | None = None
        for task in tasks:
            stage = stage or make_stage()
            commit(task, list(stage.run(task.items)))
