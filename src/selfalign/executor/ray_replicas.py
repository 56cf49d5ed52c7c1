"""Where a generation stage's model replicas run on a Ray cluster: data parallelism across
replicas, tensor parallelism inside one.

A replica is one ``StageWorker`` actor that loads the model once. A model held in its actor's own
process gets a plain actor of ``run.ray.cpus_per_actor`` / ``gpus_per_actor``, as many as
``run.ray.actors`` says or the cluster holds. A vLLM engine with ``tensor_parallel_size`` k > 1
is not held in one process: it starts k GPU workers of its own, as Ray actors when told
``distributed_executor_backend = "ray"``, inside the placement group of the process that builds
it. So each such replica gets a placement group of its own: a bundle with the actor's CPUs, then
k bundles of one GPU, all on one node; the actor sits in the first bundle and reserves no GPU,
leaving all k to vLLM's workers. Data parallelism is the number of groups: ``run.ray.actors``, or
0 = as many as the nodes hold (a node holds min(its GPUs // k, its CPUs // cpus_per_actor)).

Trade-off: the groups are STRICT_PACK, so k-way tensor parallelism stays inside one node, where
its all-reduces run over NVLink or PCIe rather than the network (and vLLM wants its driver on a
node of the group); a cluster none of whose nodes has k GPUs is refused up front instead of
running the shards across machines. The plan is a pure function of the settings and the nodes'
resources, so it is tested without a GPU.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from selfalign.config import ConfigError
from selfalign.settings import RayConfig

if TYPE_CHECKING:
    from selfalign.llm.config import ModelConfig
    from selfalign.settings import Config

PLACEMENT_TIMEOUT_S = 600.0   # a busy cluster may free GPUs in a while; an impossible plan fails before


@dataclass(frozen=True)
class ReplicaPlan:
    """How many replica actors to start, what each reserves, and the bundles of the placement
    group each gets (none: a plain actor)."""

    count: int
    actor: dict[str, float]
    bundles: tuple[dict[str, float], ...] = ()


def tensor_parallel_size(model: "ModelConfig") -> int:
    """GPUs one replica of the configured model shards itself over (1 unless vLLM does)."""
    from selfalign.llm import LLMError, backend_of

    try:
        backend = backend_of(model.model or None, model.backend or None)
    except LLMError:         # the stage says what is wrong with the model when it loads it
        return 1
    return backend.tensor_parallel_size(model.options)


def plan_replicas(settings: RayConfig, shards: int, nodes: Sequence[Mapping[str, float]]) -> ReplicaPlan:
    """The replicas for a model that spans ``shards`` GPUs, on nodes with these resources."""
    cpus, gpus = settings.cpus_per_actor, settings.gpus_per_actor
    if shards <= 1:
        total = {name: sum(node.get(name, 0) for node in nodes) for name in ("CPU", "GPU")}
        fits = [int(total[name] // need) for name, need in (("CPU", cpus), ("GPU", gpus)) if need > 0]
        return ReplicaPlan(settings.actors or max(1, min(fits)), {"num_cpus": cpus, "num_gpus": gpus})
    if gpus not in (0, shards):
        raise ConfigError(f"model.options.tensor_parallel_size = {shards} makes each vLLM replica span "
                          f"{shards} GPUs, but run.ray.gpus_per_actor = {gpus:g}: set it to {shards} "
                          "or leave it 0")
    room = sum(min(int(node.get("GPU", 0) // shards),
                   int(node.get("CPU", 0) // cpus) if cpus else math.inf) for node in nodes)
    if not room or settings.actors > room:
        raise ConfigError(_no_room(settings, shards, nodes, int(room)))
    bundles = ({"CPU": cpus},) if cpus else ()
    return ReplicaPlan(settings.actors or int(room), {"num_cpus": cpus, "num_gpus": 0},
                       bundles + ({"GPU": 1.0},) * shards)


def _no_room(settings: RayConfig, shards: int, nodes: Sequence[Mapping[str, float]], room: int) -> str:
    gpus = [int(node.get("GPU", 0)) for node in nodes]
    wanted = (f"run.ray.actors = {settings.actors} vLLM replicas" if settings.actors
              else "vLLM replicas")
    per_node = ", ".join(f"{g} GPUs + {node.get('CPU', 0):g} CPUs" for g, node in zip(gpus, nodes))
    return (f"{wanted} with model.options.tensor_parallel_size = {shards} need {shards} GPUs each "
            f"on one node (tensor parallelism stays inside a node), plus "
            f"{settings.cpus_per_actor:g} CPU for the replica's actor (run.ray.cpus_per_actor). "
            f"The cluster has {sum(gpus)} GPUs, so at most {sum(gpus)} // {shards} = "
            f"{sum(gpus) // shards} replicas; its nodes ({per_node or 'none'}) hold {room}. "
            + (f"Set run.ray.actors to at most {room}, or 0 for as many as fit."
               if room else "Lower tensor_parallel_size, or add nodes with that many GPUs."))


def worker_config(config: "Config", plan: ReplicaPlan) -> "Config":
    """The config the replica actors build their stage from: in a placement group, vLLM is told
    to start its workers as Ray actors there (left to itself it starts local processes, which
    the actor, holding no GPU, could not feed)."""
    if not plan.bundles:
        return config
    chosen = config.model.options.get("distributed_executor_backend")
    if chosen not in (None, "", "ray"):
        raise ConfigError(f"model.options.distributed_executor_backend = {chosen!r} cannot run a "
                          "tensor-parallel vLLM replica under the ray executor: its GPUs are "
                          "reserved for Ray actors; leave it empty (or 'ray')")
    config = copy.deepcopy(config)
    config.model.options["distributed_executor_backend"] = "ray"
    return config


def start_replicas(ray: Any, plan: ReplicaPlan, make_worker: Callable[..., Any],
                   builder: Any) -> tuple[list[Any], list[Any]]:
    """Start the plan's actors, each in a placement group of its own when the plan has bundles.

    Returns the actors and the groups, which the caller removes after ending the actors. What
    vLLM does with a group, and so what the bundles are shaped for (vllm/v1/executor/ray_utils.py
    ``initialize_ray_cluster``, ray_executor.py ``_init_workers_ray``; vllm-project/vllm#14705 for
    the engine process it spawns inside a Ray actor): it takes ``parallel_config.placement_group``,
    else ``ray.util.get_current_placement_group()``; refuses a bundle of more than one GPU; puts
    its k workers (``num_cpus=0``, one GPU each) in the first k bundles that hold a GPU; and wants
    the driver's node to hold a bundle of the group.
    """
    if not plan.bundles:
        worker = make_worker(**plan.actor)
        return [worker.remote(builder) for _ in range(plan.count)], []
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    groups = [placement_group(list(plan.bundles), strategy="STRICT_PACK") for _ in range(plan.count)]
    _, pending = ray.wait([group.ready() for group in groups], num_returns=len(groups),
                          timeout=PLACEMENT_TIMEOUT_S)
    if pending:
        for group in groups:
            remove_placement_group(group)
        raise RuntimeError(f"{len(pending)} of {plan.count} vLLM replicas could not be placed in "
                           f"{PLACEMENT_TIMEOUT_S:.0f} s (each a placement group of {list(plan.bundles)} "
                           "on one node): the cluster has the GPUs, but something else holds them; "
                           "`ray status` shows what")
    actors = [make_worker(**plan.actor, scheduling_strategy=PlacementGroupSchedulingStrategy(
        group, placement_group_bundle_index=0, placement_group_capture_child_tasks=True)).remote(builder)
        for group in groups]
    return actors, groups


def alive_nodes(ray: Any) -> list[dict[str, float]]:
    """The resources of each live node of the cluster."""
    return [dict(node.get("Resources", {})) for node in ray.nodes() if node.get("Alive")]


def remove_groups(groups: list[Any]) -> None:
    from ray.util.placement_group import remove_placement_group

    for group in groups:
        remove_placement_group(group)
