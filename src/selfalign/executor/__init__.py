"""Executors run a stage's chunk tasks; one writer on the driver commits what they return.

``base.py`` defines the task and the interface, ``local.py`` runs tasks in this process in
order, and ``parts.py`` is the single writer: one atomic part file per finished chunk, merged
in chunk order into the stage's files. A Ray executor plugs in beside ``local.py``."""

from __future__ import annotations

from selfalign.executor.base import ChunkTask, Executor


def get_executor(name: str) -> Executor:
    """The executor called ``name`` (the ``run.executor`` setting)."""
    if name == "local":
        from selfalign.executor.local import LocalExecutor

        return LocalExecutor()
    raise ValueError(f"unknown executor {name!r}; known: local")


__all__ = ["ChunkTask", "Executor", "get_executor"]
