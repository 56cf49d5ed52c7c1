"""The run's two SQLite caches behind one Ray actor, so they keep a single writer on a cluster.

Ray workers answer chunks on any node, but ``cache.sqlite`` (LLM completions) and
``exec_cache.sqlite`` (sandbox verdicts) are files in the run directory on the driver's machine,
and SQLite over a network file system is neither safe nor fast. So one ``CacheServer`` actor,
pinned to the driver's node (the head node for a Ray client driver), opens both files and is
their only writer; every worker's ``CachedLLM`` and ``Sandbox`` get a client with the same
get/put/flush/close methods as the local cache, whose calls go to that actor by key.

Trade-off: a lookup is a round trip (under a millisecond on one machine, a network hop on a
cluster). For LLM calls that costs nothing next to a generation. Sandbox verdicts take a few
milliseconds each, so their client asks for a whole chunk's keys in one call (``prefetch``) and
sends fresh verdicts in batches, as the local cache already commits them; a chunk's verdicts are
written before the chunk is returned, so a committed chunk's verdicts are never lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from selfalign.cache import ResponseCache
from selfalign.llm.base import Completion
from selfalign.sandbox.cache import VerdictCache
from selfalign.sandbox.verdict import ExecResult


class CacheServer:
    """The one writer of a run's caches (a Ray actor); each file opens on first use, as locally."""

    def __init__(self) -> None:
        self.responses: dict[str, ResponseCache] = {}
        self.verdicts: dict[str, VerdictCache] = {}

    def _responses(self, path: str) -> ResponseCache:
        if path not in self.responses:
            self.responses[path] = ResponseCache(path)
        return self.responses[path]

    def _verdicts(self, path: str) -> VerdictCache:
        if path not in self.verdicts:
            self.verdicts[path] = VerdictCache(path)
        return self.verdicts[path]

    def get_completions(self, path: str, key: str) -> list[Completion] | None:
        return self._responses(path).get(key)

    def put_completions(self, path: str, key: str, completions: list[Completion]) -> None:
        self._responses(path).put(key, completions)

    def count_completions(self, path: str) -> int:
        return len(self._responses(path))

    def get_verdicts(self, path: str, keys: list[str]) -> dict[str, dict]:
        cache = self._verdicts(path)
        found = {key: cache.get(key) for key in keys}
        return {key: result.to_dict() for key, result in found.items() if result is not None}

    def put_verdicts(self, path: str, verdicts: dict[str, dict]) -> None:
        cache = self._verdicts(path)
        for key, result in verdicts.items():
            cache.put(key, ExecResult.from_dict(result))
        cache.flush()

    def close(self) -> None:
        for cache in [*self.responses.values(), *self.verdicts.values()]:
            cache.close()
        self.responses.clear()
        self.verdicts.clear()


def _call(method: Any, *args: Any) -> Any:
    import ray

    return ray.get(method.remote(*args))


def _server(name: str) -> Any:
    import ray

    return ray.get_actor(name)


class RemoteResponseCache:
    """``ResponseCache``'s interface in a worker; each put is written before it returns, so a
    worker killed after a generation keeps that generation for the retried chunk."""

    def __init__(self, server: str, path: Path) -> None:
        self.server, self.path = _server(server), str(path)

    def get(self, key: str) -> list[Completion] | None:
        return _call(self.server.get_completions, self.path, key)

    def put(self, key: str, completions: Sequence[Completion]) -> None:
        _call(self.server.put_completions, self.path, key, list(completions))

    def __len__(self) -> int:
        return _call(self.server.count_completions, self.path)

    def close(self) -> None:
        pass


class RemoteVerdictCache:
    """``VerdictCache``'s interface in a worker: lookups by batch, writes by batch."""

    def __init__(self, server: str, path: Path, flush_every: int = 256) -> None:
        self.server, self.path, self.flush_every = _server(server), str(path), flush_every
        self.asked: set[str] = set()          # keys of the last prefetch
        self.known: dict[str, dict] = {}      # and those of them the cache holds
        self.pending: dict[str, dict] = {}

    def prefetch(self, keys: list[str]) -> None:
        self.asked = set(keys)
        self.known = _call(self.server.get_verdicts, self.path, sorted(self.asked))

    def get(self, key: str) -> ExecResult | None:
        found = self.pending.get(key) or self.known.get(key)
        if found is None and key not in self.asked:
            found = _call(self.server.get_verdicts, self.path, [key]).get(key)
        return ExecResult.from_dict(found, cached=True) if found else None

    def put(self, key: str, result: ExecResult) -> None:
        self.pending[key] = result.to_dict()
        if len(self.pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            _call(self.server.put_verdicts, self.path, self.pending)
            self.pending = {}

    def close(self) -> None:
        self.flush()


class RemoteCaches:
    """``RunContext.caches`` for a Ray worker: clients of the run's ``CacheServer``, found by its
    actor name (a name, unlike a handle, keeps the workers' constructor arguments inline, so Ray
    can always restart a killed worker)."""

    def __init__(self, server: str) -> None:
        self.server = server

    def responses(self, path: Path) -> RemoteResponseCache:
        return RemoteResponseCache(self.server, path)

    def verdicts(self, path: Path) -> RemoteVerdictCache:
        return RemoteVerdictCache(self.server, path)
