"""The ray executor on a real two-node Ray cluster on loopback (``ray start`` twice, one CPU and
two declared GPUs each), against the scripted server: the same files as the local executor, also
after its workers are killed in the middle of a generation stage and of the execute stage, and
after the driver is; where tensor-parallel vLLM replicas are placed (the GPUs exist only as Ray
resources: this machine has none); and that MinHash near-dedup hashed in shards on the cluster
keeps what it keeps in one process.

The cluster is started once for the module and stopped in the fixture's finalizer (``ray stop
--force``, which stops every Ray process of this user: nothing else here runs Ray). When Ray is not
installed or cannot start here, the tests are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from scripted import ScriptedServer
from selfalign.config import ConfigError
from selfalign.curate.neardup import SignatureStore, near_pairs
from selfalign.executor import ChunkTask
from selfalign.executor.ray import RayExecutor
from selfalign.pipeline import run_pipeline
from selfalign.quality.dedup import near_duplicates
from selfalign.quality.minhash import MinHashParams
from selfalign.records import Dropped
from selfalign.settings import RayConfig, load_config
from selfalign.stages.base import Stage, StageBuilder
from selfalign.stages.context import RunContext
from test_pipeline import _kill_when, _overrides, _run_cli, _stage_rows

pytestmark = pytest.mark.slow

STAGES = ("seeds", "concepts", "instructions", "responses", "execute", "curate")
SLEEP_S = 0.2       # each generated test sleeps this long, so the execute stage can be killed mid-way
# A loopback test cluster needs no token (Ray 2.5x turns token authentication on by default).
ENV = {"RAY_AUTH_MODE": "disabled"}
# The GPUs are only declared: nothing here reserves one except the placement test's stand-in.
NODE = ["--num-cpus=1", "--num-gpus=2", "--object-store-memory=200000000", "--disable-usage-stats"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    ray = Path(sys.executable).with_name("ray")
    return subprocess.run([str(ray), *args], capture_output=True, text=True, timeout=120, check=check,
                          env={**os.environ, **ENV})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head and a worker node on 127.0.0.1; yields (address, temp dir, the head's Ray Client
    address ray://127.0.0.1:PORT); RAY_ADDRESS points at the cluster itself."""
    pytest.importorskip("ray", reason="the ray executor needs Ray: pip install 'selfalign[ray]'")
    temp = tmp_path_factory.mktemp("ray")
    port = _free_port()
    address, client_port = f"127.0.0.1:{port}", _free_port()
    head = ["start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", f"--temp-dir={temp}",
            "--include-dashboard=false", f"--dashboard-port={_free_port()}",
            f"--ray-client-server-port={client_port}", *NODE]
    started = _ray_cli(*head, check=False)
    if started.returncode != 0:
        _ray_cli("stop", "--force", check=False)
        pytest.skip(f"a Ray head node cannot start here: {started.stderr[-500:]}")
    joined = _ray_cli("start", f"--address={address}", "--node-ip-address=127.0.0.1", *NODE, check=False)
    saved = {name: os.environ.get(name) for name in ("RAY_ADDRESS", *ENV)}
    os.environ.update(RAY_ADDRESS=address, **ENV)    # for the drivers: this process and the CLI
    try:
        assert joined.returncode == 0, joined.stderr[-2000:]
        yield address, temp, f"ray://127.0.0.1:{client_port}"
    finally:
        import ray

        ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _ray_cli("stop", "--force", check=False)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The local executor's run of the scripted pipeline (the files every Ray run must match),
    and the folder of the corpus every run mines (seed records name their source's path)."""
    base = tmp_path_factory.mktemp("local")
    with ScriptedServer(sleep_s=SLEEP_S) as server:
        run_pipeline(load_config(None, _overrides(base, server.url, base / "run")), progress=False)
    return base


def _ray_overrides(base: Path, url: str, run_dir: Path) -> list[str]:
    return _overrides(base, url, run_dir, **{"run.executor": "ray"})


def _assert_same_files(run_dir: Path, expected: Path) -> None:
    """Kept and dropped rows of every stage, order-independently, and sft.jsonl byte for byte."""
    for name in STAGES:
        assert _sorted_rows(run_dir, name) == _sorted_rows(expected, name), name
        assert _sorted_dropped(run_dir, name) == _sorted_dropped(expected, name), name
    assert (run_dir / "sft.jsonl").read_bytes() == (expected / "sft.jsonl").read_bytes()


def _sorted_rows(run_dir: Path, name: str) -> list[str]:
    return sorted(json.dumps(row, sort_keys=True) for row in _stage_rows(run_dir, name))


def _sorted_dropped(run_dir: Path, name: str) -> list[str]:
    rows = [json.loads(line) for line in (run_dir / f"{name}.dropped.jsonl").read_text().splitlines()[1:]]
    for row in rows:  # a verdict's timings differ between two runs of the same program
        for key in ("wall_s", "cpu_s", "peak_mb", "cached"):
            row["record"].get("exec", {}).pop(key, None)
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


def _processes() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line) of every process we can read."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            found[int(entry.name)] = (ppid, cmdline)
    return found


def _kill_stage_workers(temp: Path) -> list[int]:
    """SIGKILL every StageWorker actor process of this cluster (children of its raylets)."""
    procs = _processes()
    raylets = {pid for pid, (_, cmd) in procs.items() if b"raylet" in cmd and str(temp).encode() in cmd}
    victims = [pid for pid, (ppid, cmd) in procs.items()
               if ppid in raylets and cmd.startswith(b"ray::StageWorker")]
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    return victims


class KillingServer(ScriptedServer):
    """Kills the stage workers once, while the first request of the responses stage is open."""

    def __init__(self, temp: Path) -> None:
        super().__init__(sleep_s=SLEEP_S)
        self.temp, self.killed = temp, []
        self._kill_lock = threading.Lock()

    def answer(self, payload):
        prompt = str(payload["prompt"])
        if not prompt.endswith(("Concepts:", "Instruction:\n")):
            with self._kill_lock:
                if not self.killed:
                    self.killed = _kill_stage_workers(self.temp) or [0]
        return super().answer(payload)


def test_ray_executor_writes_what_the_local_executor_writes(cluster, local_run, tmp_path):
    with ScriptedServer(sleep_s=SLEEP_S) as server:
        manifest = run_pipeline(load_config(None, _ray_overrides(local_run, server.url, tmp_path / "run")),
                                progress=False)
    _assert_same_files(tmp_path / "run", local_run / "run")
    local = json.loads((local_run / "run" / "manifest.json").read_text())["stages"]
    for name in ("concepts", "instructions", "responses"):   # LLM use counted in the actors
        assert manifest.stages[name]["llm"] == local[name]["llm"], name
        assert manifest.stages[name]["model"]["name"] == f"openai:{server.url}#default", name
    assert not (tmp_path / "run" / ".parts").exists() or not any((tmp_path / "run" / ".parts").iterdir())


def _cache_rows(run_dir: Path) -> tuple[int, int]:
    """Entries in the run's LLM cache and verdict cache."""
    counts = []
    for name, table in (("cache.sqlite", "completions"), ("exec_cache.sqlite", "verdicts")):
        with closing(sqlite3.connect(run_dir / name)) as db:
            counts.append(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    return counts[0], counts[1]


def test_a_ray_client_driver_writes_what_the_local_executor_writes(cluster, local_run, tmp_path):
    """run.ray.address = ray://127.0.0.1:PORT: this process is a Ray Client driver, not a node
    of the cluster; the stage actors and the cache server run behind the head's client server.
    A client driver's node id is the head node's, so that is where the cache server is pinned:
    on this machine, where the run directory is, so the run writes the local executor's files
    and caches. MinHash shards sent as tasks from the client keep what one process keeps."""
    import ray

    from selfalign.executor.ray_minhash import RaySketcher

    _, _, client = cluster
    ray.shutdown()     # an earlier test's direct connection would be reused instead of the client
    run_dir = tmp_path / "run"
    try:
        with ScriptedServer(sleep_s=SLEEP_S) as server:
            overrides = _overrides(local_run, server.url, run_dir,
                                   **{"run.executor": "ray", "run.ray.address": client})
            manifest = run_pipeline(load_config(None, overrides), progress=False)
        assert ray.util.client.ray.is_connected()
        heads = [node["NodeID"] for node in ray.nodes() if "node:__internal_head__" in node["Resources"]]
        assert [ray.get_runtime_context().get_node_id()] == heads
        texts, params = _functions_and_copies(), MinHashParams(threshold=0.7)
        sketcher = RaySketcher(RayConfig(address=client), shard_bytes=500)
        assert near_duplicates(texts, params, sketcher) == near_duplicates(texts, params)
    finally:
        ray.shutdown()
    _assert_same_files(run_dir, local_run / "run")
    assert _cache_rows(run_dir) == _cache_rows(local_run / "run") and min(_cache_rows(run_dir)) > 0
    local = json.loads((local_run / "run" / "manifest.json").read_text())["stages"]
    for name in ("concepts", "instructions", "responses"):
        assert manifest.stages[name]["llm"] == local[name]["llm"], name


def test_workers_killed_mid_stage_the_run_completes_with_the_same_output(cluster, local_run, tmp_path):
    """Every stage actor is SIGKILLed twice: while its responses request is open at the server,
    and once the first execute chunk is committed; Ray restarts the actors and retries their
    chunks, whose LLM calls and verdicts come back from the driver-side caches."""
    _, temp, _ = cluster
    run_dir = tmp_path / "run"
    killed_in_execute: list[int] = []

    def kill_in_execute() -> None:
        deadline = time.monotonic() + 120
        while not any((run_dir / ".parts" / "execute").glob("0*.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.02)
        killed_in_execute.extend(_kill_stage_workers(temp))

    killer = threading.Thread(target=kill_in_execute, daemon=True)
    killer.start()
    with KillingServer(temp) as server:
        run_pipeline(load_config(None, _ray_overrides(local_run, server.url, run_dir)), progress=False)
    killer.join(timeout=5)
    assert server.killed and server.killed != [0], "no stage worker was running during responses"
    assert killed_in_execute, "no stage worker was running during execute"
    _assert_same_files(run_dir, local_run / "run")


def test_driver_killed_mid_stage_the_same_command_finishes_the_run(cluster, local_run, tmp_path):
    run_dir = tmp_path / "run"
    with ScriptedServer(sleep_s=SLEEP_S) as server:
        overrides = _ray_overrides(local_run, server.url, run_dir)
        _kill_when(_run_cli(overrides), run_dir / ".parts" / "execute")
        assert json.loads((run_dir / "manifest.json").read_text())["stages"]["execute"]["status"] == "running"
        calls = len(server.requests)
        done = _run_cli(overrides)
        _, err = done.communicate(timeout=300)
        assert done.returncode == 0, err
        assert len(server.requests) == calls     # the generation stages had finished: no new calls
    _assert_same_files(run_dir, local_run / "run")


def _functions_and_copies() -> list[str]:
    """Functions, edited copies of some, and short and empty texts, shuffled."""
    rng = random.Random(7)
    names = [f"v{i}" for i in range(200)]
    texts = ["", "x", "pass"] * 3
    for k in range(60):
        words = [rng.choice(names) for _ in range(rng.randint(2, 80))]
        for copy in range(rng.randint(1, 3)):
            edited = [w if copy == 0 or rng.random() > 0.05 else "y" for w in words]
            texts.append(f"def f{k}(x):\n    return " + " + ".join(edited))
    rng.shuffle(texts)
    return texts


def test_minhash_hashed_in_shards_on_the_cluster_keeps_what_local_dedup_keeps(cluster):
    """Seed mining's near-dedup and curation's signature store with their shards sketched as
    tasks on both nodes: the same kept texts, and pairs, as in this process. A merge of the
    shards out of order keeps other texts, so the comparison can fail."""
    from selfalign.executor.ray_minhash import RaySketcher

    class OutOfOrder(RaySketcher):
        def gather(self, handles):
            return super().gather(handles)[::-1]

    texts, params = _functions_and_copies(), MinHashParams(threshold=0.7)
    sketcher = RaySketcher(RayConfig(), shard_bytes=500)
    kept = near_duplicates(texts, params)
    assert sum(original >= 0 for original in kept) > 10
    assert near_duplicates(texts, params, sketcher) == kept
    assert near_duplicates(texts, params, OutOfOrder(RayConfig(), shard_bytes=500)) != kept

    local, remote = SignatureStore(params), SignatureStore(params, sketcher)
    for start in range(0, len(texts), 16):      # as curation adds them, while reading its rows
        local.add(texts[start:start + 16])
        remote.add(texts[start:start + 16])
    members = np.array(random.Random(1).sample(range(len(texts)), len(texts)))
    fetch = lambda idx: [texts[i] for i in idx]   # noqa: E731
    pairs = near_pairs(local, members, fetch)
    assert len(pairs) > 10 and np.array_equal(near_pairs(remote, members, fetch), pairs)


def _shard_probe() -> type[Stage]:
    """A stand-in for a generation stage on a vLLM engine with tensor_parallel_size = k, which
    cannot run here: built once per replica actor, like the engine, it starts k shard actors the
    way vLLM's Ray executor starts its workers (num_cpus=0, one GPU each, one in each GPU bundle of
    the actor's placement group: vllm/v1/executor/ray_executor.py); each chunk reports where the
    replica and its shards landed. Defined in a function so Ray ships the class by value."""

    class ShardProbe(Stage):
        name, input, sections = "shard_probe", None, ()

        def __init__(self, run: RunContext) -> None:
            import ray
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

            group = ray.util.get_current_placement_group()
            context = ray.get_runtime_context()

            @ray.remote(num_cpus=0, num_gpus=1)
            class Shard:
                def where(self) -> tuple[str, list]:
                    shard = ray.get_runtime_context()
                    return shard.get_node_id(), shard.get_accelerator_ids()["GPU"]

            bundles = [i for i, bundle in enumerate(group.bundle_specs) if bundle.get("GPU")]
            self.shards = [Shard.options(scheduling_strategy=PlacementGroupSchedulingStrategy(
                group, placement_group_bundle_index=i)).remote() for i in bundles]
            self.report = {
                "group": group.id.hex(), "bundles": group.bundle_specs, "node": context.get_node_id(),
                "actor_resources": context.get_assigned_resources(),
                "options": run.config.model.options,
                "shards": ray.get([shard.where.remote() for shard in self.shards], timeout=60)}

        @classmethod
        def from_run(cls, run: RunContext) -> "ShardProbe":
            return cls(run)

        def run(self, items):
            for index, _ in items:
                yield Dropped("probe", {"index": index, **self.report})

    return ShardProbe


def test_tensor_parallel_vllm_replicas_each_get_a_placement_group_of_their_gpus(cluster, tmp_path):
    """model.options.tensor_parallel_size = 2 on two nodes of 2 (declared) GPUs and 1 CPU: the
    ray executor starts one replica per node, each in a placement group of a CPU bundle and two
    GPU bundles on that node; the replica's actor reserves no GPU, so both of its shards get one,
    and vLLM is told to use Ray workers. The groups are gone when the stage ends. A replica of 4
    GPUs, or more replicas than the nodes hold, is refused before anything starts."""
    import ray

    config = load_config(None, ["model.backend=vllm", "model.model=org/model"])
    config.model.options = {"tensor_parallel_size": 2}
    builder = StageBuilder(_shard_probe(), RunContext(config, tmp_path, progress=False))
    committed = []
    RayExecutor(RayConfig()).run(builder, [ChunkTask(i, [(i, None)]) for i in range(6)],
                                 lambda task, outcomes: committed.extend(o.record for o in outcomes))
    assert sorted(record["index"] for record in committed) == list(range(6))
    replicas = {record["group"]: record for record in committed}
    assert len(replicas) == 2
    assert len({replica["node"] for replica in replicas.values()}) == 2      # one per node
    for replica in replicas.values():
        assert replica["bundles"] == [{"CPU": 1.0}, {"GPU": 1.0}, {"GPU": 1.0}]
        assert replica["actor_resources"] == {"CPU": 1.0}                     # no GPU of its own
        assert replica["options"] == {"tensor_parallel_size": 2, "distributed_executor_backend": "ray"}
        (node_a, gpus_a), (node_b, gpus_b) = replica["shards"]
        assert node_a == node_b == replica["node"]
        assert len(gpus_a) == len(gpus_b) == 1 and gpus_a != gpus_b
    table = ray.util.placement_group_table()
    assert {table[group]["state"] for group in replicas} == {"REMOVED"}

    config.model.options = {"tensor_parallel_size": 4}      # 4 GPUs in all, but 2 per node
    with pytest.raises(ConfigError, match=r"at most 4 // 4 = 1 replicas; its nodes \(2 GPUs \+ 1 CPUs, "
                                          r"2 GPUs \+ 1 CPUs\) hold 0"):
        RayExecutor(RayConfig()).run(builder, [ChunkTask(0, [(0, None)])], lambda *_: None)
    config.model.options = {"tensor_parallel_size": 2}
    with pytest.raises(ConfigError, match="run.ray.actors = 3 vLLM replicas .* hold 2"):
        RayExecutor(RayConfig(actors=3)).run(builder, [ChunkTask(0, [(0, None)])], lambda *_: None)
    assert {row["state"] for row in ray.util.placement_group_table().values()} == {"REMOVED"}
