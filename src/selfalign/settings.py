"""The settings of a selfalign run: one TOML file whose sections are declared by the libraries.

``[run]`` is declared here; ``[model]`` by ``llm``, ``[seeds]`` by ``seeds``, the three generation
sections by ``generate``, ``[execute]`` by ``sandbox`` (its ``Limits``), ``[curate]`` by ``curate``
and ``[eval]`` by ``evaluate``. Every command reads the same file with the same ``--set``
overrides (``selfalign run``, ``eval``, ``execute``), so a setting has one name and one default
everywhere. The defaults run the demo; the resolved config is written beside the outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from selfalign.config import ConfigError, describe, load, setting, to_toml
from selfalign.curate.config import CurateConfig
from selfalign.evaluate.config import EvalConfig
from selfalign.generate.config import ConceptsConfig, InstructionsConfig, ResponsesConfig
from selfalign.llm.config import ModelConfig
from selfalign.sandbox.config import ExecuteConfig
from selfalign.seeds.config import SeedsConfig
from selfalign.train.config import TrainConfig

__all__ = ["Config", "ConfigError", "RayConfig", "RunConfig", "describe", "load_config", "to_toml"]

DEFAULT_STEPS = ("seeds", "concepts", "instructions", "responses", "execute", "curate")


@dataclass
class RayConfig:
    """``[run.ray]``: the cluster the ray executor uses and the actors it starts per stage."""

    address: str = setting("the Ray cluster to use: '' = $RAY_ADDRESS when it is set, else a local "
                           "cluster started for this run; 'auto', HOST:PORT, or ray://HOST:10001 "
                           "(Ray client: the run directory must be at the same path on the head node)", "")
    actors: int = setting("actors per record stage, each building the stage once (loading the model) "
                          "and running chunk after chunk; 0 = as many as the cluster's CPUs (and GPUs) "
                          "hold at cpus_per_actor / gpus_per_actor each, or for vLLM with "
                          "tensor_parallel_size k > 1 as many groups of k GPUs as its nodes hold", 0)
    cpus_per_actor: float = setting("CPUs each actor reserves: a llama.cpp actor's CPU slot, an execute "
                                    "actor's sandbox workers (execute.workers = 0 takes this many)", 1.0)
    gpus_per_actor: float = setting("GPUs each actor reserves (1: a vLLM or transformers replica per "
                                    "GPU); vLLM with tensor_parallel_size k > 1 gets a placement group "
                                    "of k GPUs per actor instead (leave 0, or set k)", 0.0)
    max_restarts: int = setting("how often a dead actor is restarted, its unfinished chunks retried "
                                "(Ray's max_restarts and max_task_retries), before the stage fails", 3)

    def __post_init__(self) -> None:
        if self.actors < 0 or self.cpus_per_actor < 0 or self.gpus_per_actor < 0 or self.max_restarts < 0:
            raise ValueError("run.ray.actors, cpus_per_actor, gpus_per_actor and max_restarts must be >= 0")
        if self.cpus_per_actor == 0 and self.gpus_per_actor == 0 and self.actors == 0:
            raise ValueError("run.ray.actors must be set when an actor reserves no CPU and no GPU")


@dataclass
class RunConfig:
    dir: str = setting("run directory: outputs, manifest, cache", "runs/demo")
    seed: int = setting("global seed; item i of a stage draws from seed + i", 0)
    limit: int = setting("how many seeds go on to generation (0 = all)", 12)
    chunk_size: int = setting("items per committed chunk: a kill loses at most one chunk's "
                              "unfinished work (finished LLM calls are cached), and a batching "
                              "backend gets a chunk's requests at once; 0 = by backend: 4 for "
                              "llamacpp (its parallel when larger), transformers' batch_size, "
                              "256 per openai server in the list, 512 for vllm", 0)
    parquet: bool = setting("also write each stage's kept records as <stage>.parquet", False)
    executor: str = setting("how a stage's chunks are run: local (in this process, in order) or ray "
                            "(in actors on a Ray cluster, see [run.ray] and docs/scaling.md)", "local")
    ray: RayConfig = setting("the Ray executor's cluster and actors", factory=RayConfig)
    steps: list[str] = setting("the steps `selfalign run` runs, in pipeline order whatever the order "
                               "here: eval_base (evaluate the model first, off by default), eval_native "
                               "(again in its own chat template, off by default), seeds, "
                               "concepts, instructions, responses, execute, curate, train (fine-tune the "
                               "model on the curated dataset, off by default)",
                               factory=lambda: list(DEFAULT_STEPS))

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ValueError(f"run.limit must be 0 (every seed) or more, got {self.limit}")
        if self.chunk_size < 0:
            raise ValueError(f"run.chunk_size must be 0 (by backend) or more, got {self.chunk_size}")
        if self.executor not in ("local", "ray"):
            raise ValueError(f"run.executor must be 'local' or 'ray', got {self.executor!r}")


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    seeds: SeedsConfig = field(default_factory=SeedsConfig)
    concepts: ConceptsConfig = field(default_factory=ConceptsConfig)
    instructions: InstructionsConfig = field(default_factory=InstructionsConfig)
    responses: ResponsesConfig = field(default_factory=ResponsesConfig)
    execute: ExecuteConfig = field(default_factory=ExecuteConfig)
    curate: CurateConfig = field(default_factory=CurateConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the TOML file (if any), then ``key.path=value`` overrides."""
    return load(Config, path, overrides)
