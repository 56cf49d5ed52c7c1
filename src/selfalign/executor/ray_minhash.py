"""MinHash sketches of seed mining and curation as Ray tasks, merged on the driver.

Seed mining and curation need their whole input at once, so under the ray executor they still
run on the driver (``ray.py``); what their near-dedup spends most of its time on, and what is
parallel by nature, is hashing every text's shingles into a signature and LSH band keys. Here
each shard of texts is one Ray task (``quality.minhash.sketch``, one CPU) that returns numpy
arrays; the driver takes them back in the order it submitted them, not the order they finished,
and merges them: concatenates the rows, sorts the band keys into buckets, pairs the candidates
and verifies them, exactly as a local run does. Every row of a sketch depends only on its own
text (the hash tables come from fixed seeds, so every node needs the same numpy, as it needs the
same selfalign), so the kept rows and their order are the local ones (tested on a two-node
cluster in ``tests/pipeline/test_ray.py``).

The trade-off: the driver still holds every signature (verification reads them) and merges
alone, and texts cross to the tasks through the object store; at most two shards per cluster
CPU are in flight, so a corpus is not copied there whole while the tasks catch up.
"""

from __future__ import annotations

from typing import Any, Sequence

from selfalign.executor.ray import connect
from selfalign.quality.minhash import SHARD_BYTES, MinHashParams, Sketches, sketch
from selfalign.settings import RayConfig

IN_FLIGHT_PER_CPU = 2


class RaySketcher:
    """A ``quality.minhash.Sketcher`` whose shards run as Ray tasks; joins the cluster on the
    first shard, so a stage with nothing to deduplicate starts nothing."""

    def __init__(self, settings: RayConfig, shard_bytes: int = SHARD_BYTES) -> None:
        self.settings, self.shard_bytes = settings, shard_bytes
        self._ray: Any = None
        self._task: Any = None
        self._window = 0
        self._running: list[Any] = []

    def submit(self, texts: Sequence[str], params: MinHashParams) -> Any:
        if self._ray is None:
            self._ray = connect(self.settings)
            self._task = self._ray.remote(sketch).options(num_cpus=1)
            self._window = IN_FLIGHT_PER_CPU * max(1, int(self._ray.cluster_resources().get("CPU", 1)))
        while len(self._running) >= self._window:
            _, self._running = self._ray.wait(self._running, num_returns=1)
        handle = self._task.remote(list(texts), params)
        self._running.append(handle)
        return handle

    def gather(self, handles: Sequence[Any]) -> list[Sketches]:
        if not handles:
            return []
        taken = set(handles)
        self._running = [h for h in self._running if h not in taken]
        return self._ray.get(list(handles))     # in the order submitted: that is the merge order
