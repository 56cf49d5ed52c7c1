"""Choosing an executor: the setting, the CLI flag, and what the ray executor does without a
cluster (whole stages and finished stages never start Ray). The runs on a real cluster are in
tests/pipeline/test_ray.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from selfalign.cli import build_parser
from selfalign.cli.pipeline import resolve
from selfalign.config import ConfigError
from selfalign.executor import ChunkTask, get_executor
from selfalign.records import Dropped
from selfalign.settings import RayConfig, load_config
from selfalign.stages.base import Stage, StageBuilder
from selfalign.stages.context import RunContext


class Whole(Stage):
    name, input, sections, whole = "whole", None, (), True
    built = 0

    @classmethod
    def from_run(cls, run):
        cls.built += 1
        return cls()

    def run(self, items):
        for index, item in items:
            yield Dropped("seen", {"index": index, "item": item})


def test_the_flag_and_the_setting_choose_the_executor():
    args = build_parser().parse_args(["run", "--executor", "ray", "--set", "run.ray.actors=3"])
    config = resolve(args)
    assert config.run.executor == "ray" and config.run.ray.actors == 3
    assert resolve(build_parser().parse_args(["run"])).run.executor == "local"
    assert type(get_executor("ray", config.run.ray)).__name__ == "RayExecutor"
    with pytest.raises(ConfigError, match="run.executor must be 'local' or 'ray'"):
        load_config(None, ["run.executor=dask"])
    with pytest.raises(ConfigError, match="run.ray.actors"):
        load_config(None, ["run.ray.actors=-1"])
    with pytest.raises(ValueError, match="known: local, ray"):
        get_executor("dask")


def test_ray_runs_a_whole_stage_on_the_driver_and_starts_nothing_for_no_tasks(tmp_path):
    ray_imported = "ray" in sys.modules
    executor = get_executor("ray", RayConfig())
    builder = StageBuilder(Whole, RunContext(load_config(None, []), tmp_path))
    committed = []
    executor.run(builder, iter([ChunkTask(0, [(0, "a"), (1, "b")])]),
                 lambda task, outcomes: committed.append((task.index, [o.record for o in outcomes])))
    assert committed == [(0, [{"index": 0, "item": "a"}, {"index": 1, "item": "b"}])]
    assert Whole.built == 1
    # Its MinHash shards would go to Ray tasks; the cluster is joined only for a first shard.
    assert type(builder.run.sketcher).__name__ == "RaySketcher"
    Whole.whole = False   # a chunked stage whose chunks are all done: no cluster is started
    try:
        executor.run(builder, iter([]), lambda *_: pytest.fail("nothing to commit"))
    finally:
        Whole.whole = True
    if not ray_imported and "ray" in sys.modules:
        import ray

        assert not ray.is_initialized()
    with pytest.raises(TypeError, match="StageBuilder"):
        executor.run(lambda: Whole(), iter([]), lambda *_: None)


def test_a_worker_context_opens_the_given_caches_and_counts_use_elsewhere(tmp_path):
    opened = []

    class Caches:
        def responses(self, path: Path):
            opened.append(("responses", path.name))

        def verdicts(self, path: Path):
            opened.append(("verdicts", path.name))
            return Memory()

    class Memory(dict):
        def put(self, key, result):
            self[key] = result

        def flush(self):
            pass

        def close(self):
            pass

    driver = RunContext(load_config(None, ["execute.isolation=rlimits"]), tmp_path)
    worker = driver.for_worker(Caches())
    assert worker.caches is not None and not worker.pin_sandbox and driver.pin_sandbox
    worker.sandbox().close()
    assert opened == [("verdicts", "exec_cache.sqlite")]
    driver.add_llm_use({"calls": 2, "cache_hits": 1, "tokens": 5, "prompt_tokens": 7,
                        "prompt_evaluated": 3}, {"name": "m"})
    assert driver.llm_stats()["calls"] == 2 and driver.llm_identity() == {"name": "m"}
    assert not (tmp_path / "exec_cache.sqlite").exists()   # the worker opened no file of its own
