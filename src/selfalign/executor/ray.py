"""Run a stage's chunk tasks on a Ray cluster; the driver still commits every chunk itself.

Design, in the words of the executor seam (``base.py``):

- **Actors hold the stage.** Each record stage gets a pool of ``StageWorker`` actors (``[run.ray]``
  ``actors``, ``cpus_per_actor``, ``gpus_per_actor``): an actor builds the stage once, on its
  first chunk (loading the model, or starting a sandbox with ``cpus_per_actor`` workers for the
  execute stage), then runs chunk after chunk, two in flight per actor so none waits on the
  driver. The actors are started when the stage has work and ended with it, so a stage's model
  is never resident beside the next stage's.
- **One writer on the driver.** A finished chunk's outcomes come back to the driver, which hands
  them to ``commit`` on its own thread: part files and the manifest have one writer, as locally,
  and chunks commit in the order they finish (the merge orders them).
- **One writer per cache.** ``cache.sqlite`` and ``exec_cache.sqlite`` are owned by one
  ``CacheServer`` actor pinned to the driver's node (``ray_cache.py``); the workers' ``CachedLLM``
  and ``Sandbox`` talk to it by key. Chosen over shipping cache entries back with each chunk
  because a worker killed in the middle of a chunk must leave its finished LLM calls behind, and
  over one SQLite file per worker because a resumed run (or a rerun with another executor) must
  find every entry in the run's own files.
- **Failures.** A dead actor is restarted and its unfinished chunks retried
  (``max_restarts``; Ray's ``max_task_retries``): the retry's LLM calls and verdicts come back
  from the cache. A killed driver takes its actors with it; the same command resumes from the
  committed parts and the caches, with either executor.
- **Whole stages** (seed mining, curation: one chunk that needs all its input) run on the driver,
  in this process, through the local executor; their MinHash dedup is not sharded yet.

The cluster: ``run.ray.address``, else ``$RAY_ADDRESS`` (a running cluster, or ``ray://`` for
Ray client), else a local cluster started for this process. Every node needs selfalign (and the
model's backend) installed, and the model file at the same path.
"""

from __future__ import annotations

import itertools
import os
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from selfalign.executor.base import ChunkTask, Executor, Outcome
from selfalign.settings import RayConfig
from selfalign.executor.local import LocalExecutor

if TYPE_CHECKING:
    from selfalign.stages.base import Stage, StageBuilder

IN_FLIGHT_PER_ACTOR = 2   # one running, one waiting, so an actor never idles while the driver commits


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RuntimeError("run.executor = 'ray' needs Ray: pip install 'selfalign[ray]'") from None
    return ray


class StageWorker:
    """A Ray actor that builds one stage (on its first chunk) and runs chunks with it."""

    def __init__(self, builder: "StageBuilder") -> None:
        self.builder = builder
        self.stage: Stage | None = None

    def run_chunk(self, task: ChunkTask) -> tuple[list[Outcome], dict[str, int], dict | None]:
        """The chunk's outcomes, the LLM use they cost and the model that answered."""
        run = self.builder.run
        self.stage = self.stage or self.builder()
        before = run.llm_stats()
        outcomes = list(self.stage.run(task.items))
        used = {k: v - before.get(k, 0) for k, v in run.llm_stats().items()}
        return outcomes, used, run.llm_identity()

    def close(self) -> None:
        self.builder.run.close()


class RayExecutor(Executor):
    def __init__(self, settings: RayConfig | None = None) -> None:
        self.settings = settings or RayConfig()

    def run(self, make_stage: Callable[[], "Stage"], tasks: Iterable[ChunkTask],
            commit: Callable[[ChunkTask, list[Outcome]], None]) -> None:
        from selfalign.stages.base import StageBuilder

        if not isinstance(make_stage, StageBuilder):
            raise TypeError("the ray executor needs a StageBuilder to rebuild the stage in its actors")
        if make_stage.stage.whole:
            LocalExecutor().run(make_stage, tasks, commit)
            return
        queue = iter(tasks)
        first = next(queue, None)
        if first is None:          # every chunk is done: start nothing
            return
        ray = connect(self.settings)
        pool = _ActorPool(ray, make_stage, self.settings)
        try:
            pool.run(itertools.chain([first], queue), commit)
        finally:
            pool.close()


def connect(settings: RayConfig) -> Any:
    """Join the configured cluster (or ``$RAY_ADDRESS``), or start a local one, once per process."""
    ray = require_ray()
    if not ray.is_initialized():
        address = settings.address or os.environ.get("RAY_ADDRESS") or None
        options: dict[str, Any] = {"include_dashboard": False} if address is None else {}
        ray.init(address=address, logging_level="WARNING", configure_logging=True, **options)
    return ray


class _ActorPool:
    """The stage's actors, the cache server, and the loop that feeds them and commits results."""

    def __init__(self, ray: Any, builder: "StageBuilder", settings: RayConfig) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from selfalign.executor.ray_cache import CacheServer, RemoteCaches

        self.ray, self.builder, self.settings = ray, builder, settings
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        name = f"selfalign-cache-{uuid.uuid4().hex}"
        self.cache = ray.remote(CacheServer).options(
            name=name, num_cpus=0, scheduling_strategy=here, max_restarts=-1, max_task_retries=-1).remote()
        restarts = settings.max_restarts
        worker = ray.remote(StageWorker).options(
            num_cpus=settings.cpus_per_actor, num_gpus=settings.gpus_per_actor,
            max_restarts=restarts, max_task_retries=restarts)
        remote_builder = type(builder)(builder.stage, builder.run.for_worker(
            RemoteCaches(name), _with_sandbox_workers(builder.run.config, settings)))
        self.actors = [worker.remote(remote_builder) for _ in range(self._count())]

    def _count(self) -> int:
        s = self.settings
        if s.actors:
            return s.actors
        resources = self.ray.cluster_resources()
        fits = [int(resources.get(name, 0) // need)
                for name, need in (("CPU", s.cpus_per_actor), ("GPU", s.gpus_per_actor)) if need > 0]
        return max(1, min(fits))

    def run(self, tasks: Iterator[ChunkTask], commit: Callable[[ChunkTask, list[Outcome]], None]) -> None:
        in_flight: dict[Any, tuple[Any, ChunkTask]] = {}

        def submit(actor: Any) -> None:
            task = next(tasks, None)
            if task is not None:
                in_flight[actor.run_chunk.remote(task)] = (actor, task)

        for _ in range(IN_FLIGHT_PER_ACTOR):
            for actor in self.actors:
                submit(actor)
        while in_flight:
            [ref], _ = self.ray.wait(list(in_flight), num_returns=1)
            actor, task = in_flight.pop(ref)
            outcomes, used, identity = self.ray.get(ref)
            self.builder.run.add_llm_use(used, identity)
            commit(task, outcomes)
            submit(actor)

    def close(self) -> None:
        ray = self.ray
        for actor in self.actors:
            try:
                ray.get(actor.close.remote(), timeout=60)
            except Exception:   # a dead or stuck actor has nothing left to flush
                pass
            ray.kill(actor, no_restart=True)
        try:
            ray.get(self.cache.close.remote(), timeout=60)
        finally:
            ray.kill(self.cache, no_restart=True)


def _with_sandbox_workers(config: Any, settings: RayConfig) -> Any:
    """An execute actor's sandbox runs as many workers as the actor has CPUs, unless set."""
    import copy

    if config.execute.workers or settings.cpus_per_actor < 1:
        return config
    config = copy.deepcopy(config)
    config.execute.workers = int(settings.cpus_per_actor)
    return config
