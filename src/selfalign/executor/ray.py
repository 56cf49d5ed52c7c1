"""Run a stage's chunk tasks on a Ray cluster; the driver still commits every chunk itself.

Design, in the words of the executor seam (``base.py``):

- **Actors hold the stage.** Each record stage gets a pool of ``StageWorker`` actors: an actor
  builds the stage once, on its first chunk, then runs chunk after chunk, two in flight per
  actor so none waits on the driver. A generation stage gets ``[run.ray]`` ``actors`` of
  ``cpus_per_actor`` / ``gpus_per_actor`` each (a model per CPU slot or per GPU), or, for a vLLM
  engine sharded over k GPUs, one actor per placement group of k GPUs (``ray_replicas.py``). The execute
  stage (``Stage.node_wide``) gets one actor per node holding all the node's CPUs, whose sandbox
  runs a worker per core, pinned as locally: measured here, one 2-worker sandbox ran 5,000
  programs in 7.3 s where two 1-worker sandboxes in two actors took 9.3 s (local: 6.6 s). The
  actors are started when the stage has work and ended with it, so a stage's model is never
  resident beside the next stage's.
- **One writer on the driver.** A finished chunk's outcomes come back to the driver, which hands
  them to ``commit`` on its own thread: part files and the manifest have one writer, as locally,
  and chunks commit in the order they finish (the merge orders them).
- **One writer per cache.** ``cache.sqlite`` and ``exec_cache.sqlite`` are owned by one
  ``CacheServer`` actor pinned to the driver's node (``ray_cache.py``; a Ray client driver is
  not a node, and Ray gives it the head node's id, so there); the workers' ``CachedLLM`` and
  ``Sandbox`` talk to it by key. Chosen over shipping cache entries back with each chunk
  because a worker killed in the middle of a chunk must leave its finished LLM calls behind, and
  over one SQLite file per worker because a resumed run (or a rerun with another executor) must
  find every entry in the run's own files.
- **Failures.** A dead actor is restarted and its unfinished chunks retried
  (``max_restarts``; Ray's ``max_task_retries``): the retry's LLM calls and verdicts come back
  from the cache. A killed driver takes its actors with it; the same command resumes from the
  committed parts and the caches, with either executor.
- **Whole stages** (seed mining, curation: one chunk that needs all its input) run on the driver,
  in this process, through the local executor, but hash their MinHash near-dedup on the cluster:
  the run context's ``sketcher`` sends each shard of texts to a Ray task that returns its
  signatures and LSH band keys, and the driver merges the shards in order, buckets the keys and
  verifies the candidates (``ray_minhash.py``), so the kept rows are the local run's.

The cluster: ``run.ray.address``, else ``$RAY_ADDRESS`` (a running cluster, or ``ray://`` for
Ray client), else a local cluster started for this process. Every node needs selfalign (and the
model's backend) installed, and the model file at the same path. A Ray client driver's caches are
opened on the head node, so its run directory must be at the same path there; tested only with
the client on the head's machine (``tests/pipeline/test_ray.py``: the same files and caches as
the local executor).
"""

from __future__ import annotations

import copy
import itertools
import os
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from selfalign.executor.base import ChunkTask, Executor, Outcome
from selfalign.executor.ray_replicas import (ReplicaPlan, alive_nodes, plan_replicas, remove_groups,
                                             start_replicas, tensor_parallel_size, worker_config)
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
        import ray

        self.builder = builder
        self.stage: Stage | None = None
        # An actor that holds every CPU of its node pins its sandbox workers one per core, as a
        # local run does (+12% measured); actors sharing a node would all pin to the same cores.
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
        builder.run.pin_sandbox = cpus >= len(os.sched_getaffinity(0))

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
        if make_stage.stage.whole:     # on the driver; its MinHash shards as tasks (ray_minhash.py)
            from selfalign.executor.ray_minhash import RaySketcher

            make_stage.run.sketcher = RaySketcher(self.settings)
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

        from selfalign.executor.ray_cache import CacheServer

        self.ray, self.builder, self.settings = ray, builder, settings
        self.groups: list[Any] = []      # the replicas' placement groups, removed after them
        # Planned before anything starts, so a plan the cluster cannot hold leaves nothing behind.
        plan = None if builder.stage.node_wide else self._plan()
        config = plan and worker_config(builder.run.config, plan)
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.cache_name = f"selfalign-cache-{uuid.uuid4().hex}"
        self.cache = ray.remote(CacheServer).options(
            name=self.cache_name, num_cpus=0, scheduling_strategy=here, max_restarts=-1,
            max_task_retries=-1).remote()
        self.actors = self._node_actors() if builder.stage.node_wide else self._slot_actors(plan, config)

    def _worker(self, **options: Any) -> Any:
        restarts = self.settings.max_restarts
        return self.ray.remote(StageWorker).options(max_restarts=restarts, max_task_retries=restarts,
                                                    **options)

    def _builder(self, sandbox_workers: int, config: Any = None) -> "StageBuilder":
        from selfalign.executor.ray_cache import RemoteCaches

        config = config or self.builder.run.config
        if not config.execute.workers and sandbox_workers:
            config = copy.deepcopy(config)
            config.execute.workers = sandbox_workers
        return type(self.builder)(self.builder.stage, self.builder.run.for_worker(
            RemoteCaches(self.cache_name), config))

    def _plan(self) -> ReplicaPlan:
        shards = tensor_parallel_size(self.builder.run.config.model)
        return plan_replicas(self.settings, shards, alive_nodes(self.ray))

    def _slot_actors(self, plan: ReplicaPlan | None = None, config: Any = None) -> list[Any]:
        """``run.ray.actors`` model replicas (or as many as the cluster holds), each a plain
        actor of the configured size or one in a placement group of its GPUs."""
        plan = plan or self._plan()
        config = config or worker_config(self.builder.run.config, plan)
        builder = self._builder(int(self.settings.cpus_per_actor), config)
        actors, self.groups = start_replicas(self.ray, plan, self._worker, builder)
        return actors

    def _node_actors(self) -> list[Any]:
        """One actor per node holding all its CPUs (the execute stage's sandbox pool)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        actors = []
        for node in self.ray.nodes():
            cpus = int(node.get("Resources", {}).get("CPU", 0))
            if node.get("Alive") and cpus:
                on_node = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
                worker = self._worker(num_cpus=cpus, scheduling_strategy=on_node)
                actors.append(worker.remote(self._builder(cpus)))
        return actors or self._slot_actors()

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
        remove_groups(self.groups)   # frees the replicas' GPUs for the next stage
        try:
            ray.get(self.cache.close.remote(), timeout=60)
        finally:
            ray.kill(self.cache, no_restart=True)
