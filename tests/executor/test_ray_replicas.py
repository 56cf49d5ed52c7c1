"""Planning a generation stage's replicas on a Ray cluster: how many, what each actor reserves,
and the placement group a tensor-parallel vLLM replica gets, from node resources written out
here (no Ray, no GPU). The same plan on a real Ray cluster is in tests/pipeline/test_ray.py."""

from __future__ import annotations

import pytest

from selfalign.config import ConfigError
from selfalign.executor.ray_replicas import ReplicaPlan, plan_replicas, tensor_parallel_size, worker_config
from selfalign.llm.base import LLMError
from selfalign.llm.config import ModelConfig
from selfalign.settings import RayConfig, load_config

TWO_GPUS = ({"GPU": 1.0},) * 2


def test_a_model_in_one_process_keeps_one_plain_actor_per_slot():
    nodes = [{"CPU": 4, "GPU": 2}, {"CPU": 4}]
    plan = plan_replicas(RayConfig(gpus_per_actor=1), 1, nodes)
    assert plan == ReplicaPlan(2, {"num_cpus": 1.0, "num_gpus": 1}, ())     # the 2 GPUs bind
    assert plan_replicas(RayConfig(cpus_per_actor=2), 1, nodes).count == 4    # 8 CPUs / 2
    assert plan_replicas(RayConfig(actors=5), 1, nodes).count == 5            # asked for: not checked


def test_each_tensor_parallel_replica_gets_its_gpus_and_a_cpu_bundle_for_its_actor():
    nodes = [{"CPU": 8, "GPU": 4}, {"CPU": 8, "GPU": 2}, {"CPU": 8}, {"CPU": 8, "GPU": 1}]
    plan = plan_replicas(RayConfig(), 2, nodes)
    assert plan == ReplicaPlan(3, {"num_cpus": 1.0, "num_gpus": 0}, ({"CPU": 1.0},) + TWO_GPUS)
    assert plan_replicas(RayConfig(actors=2, gpus_per_actor=2), 2, nodes).count == 2
    four = plan_replicas(RayConfig(cpus_per_actor=2), 4, nodes)
    assert (four.count, four.bundles) == (1, ({"CPU": 2.0},) + ({"GPU": 1.0},) * 4)


def test_an_actor_that_reserves_no_cpu_sits_in_the_first_gpu_bundle():
    plan = plan_replicas(RayConfig(cpus_per_actor=0, actors=1), 2, [{"CPU": 0, "GPU": 2}])
    assert plan == ReplicaPlan(1, {"num_cpus": 0, "num_gpus": 0}, TWO_GPUS)


def test_replicas_are_counted_per_node_by_gpus_and_by_cpus():
    # 4 GPUs in the cluster, but a 2-GPU replica fits on no 1-GPU node.
    with pytest.raises(ConfigError) as caught:
        plan_replicas(RayConfig(), 2, [{"CPU": 4, "GPU": 1}] * 4)
    message = str(caught.value)
    assert "tensor_parallel_size = 2 need 2 GPUs each on one node" in message
    assert "at most 4 // 2 = 2 replicas; its nodes (1 GPUs + 4 CPUs, " in message
    assert message.endswith("hold 0. Lower tensor_parallel_size, or add nodes with that many GPUs.")
    # 8 GPUs, but each replica's actor needs one of the node's 2 CPUs.
    assert plan_replicas(RayConfig(), 2, [{"CPU": 2, "GPU": 8}]).count == 2


def test_more_replicas_than_the_cluster_holds_is_refused_with_the_most_it_holds():
    with pytest.raises(ConfigError, match=r"run.ray.actors = 3 vLLM replicas .* at most 4 // 2 = 2 "
                                          r"replicas; .* hold 2\. Set run.ray.actors to at most 2"):
        plan_replicas(RayConfig(actors=3), 2, [{"CPU": 8, "GPU": 4}])


def test_gpus_per_actor_must_agree_with_the_tensor_parallel_size():
    with pytest.raises(ConfigError, match="tensor_parallel_size = 2 .* run.ray.gpus_per_actor = 1: "
                                          "set it to 2 or leave it 0"):
        plan_replicas(RayConfig(gpus_per_actor=1), 2, [{"CPU": 8, "GPU": 4}])


def test_the_tensor_parallel_size_comes_from_the_vllm_options_only():
    assert tensor_parallel_size(ModelConfig("org/model", "vllm", {"tensor_parallel_size": 4})) == 4
    assert tensor_parallel_size(ModelConfig("org/model", "vllm")) == 1
    assert tensor_parallel_size(ModelConfig("http://gpu1:8000/v1")) == 1          # openai
    assert tensor_parallel_size(ModelConfig("org/model", "transformers", {"batch_size": 4})) == 1
    with pytest.raises(LLMError, match="tensor_parallel_size must be 1 or more"):
        tensor_parallel_size(ModelConfig("org/model", "vllm", {"tensor_parallel_size": 0}))


def test_replicas_in_placement_groups_tell_vllm_to_use_ray_workers():
    config = load_config(None, ["model.backend=vllm", "model.model=org/model"])
    config.model.options = {"tensor_parallel_size": 2}
    plain = plan_replicas(RayConfig(), 1, [{"CPU": 2}])
    assert worker_config(config, plain) is config
    grouped = plan_replicas(RayConfig(), 2, [{"CPU": 2, "GPU": 2}])
    assert worker_config(config, grouped).model.options == {
        "tensor_parallel_size": 2, "distributed_executor_backend": "ray"}
    assert config.model.options == {"tensor_parallel_size": 2}      # the driver's config is untouched
    config.model.options["distributed_executor_backend"] = "mp"
    with pytest.raises(ConfigError, match="distributed_executor_backend = 'mp' cannot run"):
        worker_config(config, grouped)
