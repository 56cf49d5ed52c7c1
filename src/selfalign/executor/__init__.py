"""Executors run a stage's chunk tasks; one writer on the driver commits what they return.

``base.py`` defines the task and the interface, ``local.py`` runs tasks in this process in
order, and ``parts.py`` is the single writer: one atomic part file per finished chunk, merged
in chunk order into the stage's files. ``ray.py`` runs the tasks in actors on a Ray cluster
(``ray_cache.py`` keeps the run's caches single-writer there, ``ray_minhash.py`` shards the
MinHash hashing of the whole stages it runs on the driver); Ray is imported only when used."""

from __future__ import annotations

from selfalign.executor.base import ChunkTask, Executor
from selfalign.settings import RayConfig


def get_executor(name: str, ray: RayConfig | None = None) -> Executor:
    """The executor called ``name`` (the ``run.executor`` setting; ``ray``: ``run.ray``)."""
    if name == "local":
        from selfalign.executor.local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        from selfalign.executor.ray import RayExecutor

        return RayExecutor(ray)
    raise ValueError(f"unknown executor {name!r}; known: local, ray")


__all__ = ["ChunkTask", "Executor", "get_executor"]
