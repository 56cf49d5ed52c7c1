"""A SQLite cache in front of any LLM, so a rerun or a resumed run makes no repeated calls.

The key is a hash of (schema, backend, the model's fingerprint, the backend options that change
output, prompt, every sampling parameter incl. seed and n). The fingerprint names the weights, not
the path (``selfalign.llm.fingerprint``), so a model re-exported to the same path, or a changed
option such as ``n_ctx``, misses instead of replaying another model's answers. A sampled request
(temperature > 0) without a seed is never cached: replaying one random draw as if it were
reproducible would be a lie. Each result is committed as soon as it exists. A backend that does
not batch is called one request at a time, so a kill -9 loses at most the call in flight; one
that batches (a server, vLLM, llamacpp with ``parallel``) gets every uncached request of the call
at once, a stage's whole chunk, since that is what it needs to be fast.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from selfalign.llm.base import LLM, Completion, Request, Result

# v2: keyed on the model's fingerprint and output options (v1 keyed on backend + path).
SCHEMA = "selfalign.cache v2"


def request_key(identity: dict[str, Any], request: Request) -> str:
    """``identity`` is ``LLM.identity()``: backend, fingerprint, output-changing options."""
    blob = json.dumps([SCHEMA, identity, request.prompt, request.params.to_dict()],
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cacheable(request: Request) -> bool:
    return request.params.temperature == 0 or request.params.seed is not None


class ResponseCache:
    """Key -> list of completions, in one SQLite file (WAL, safe across threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute("CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, value TEXT)")
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA,))
        elif row[0] != SCHEMA:
            self._db.close()
            raise ValueError(f"{self.path}: LLM cache written by {row[0]!r}, this is {SCHEMA!r}, "
                             "whose keys name the model's fingerprint; entries of the old cache "
                             "cannot be told apart by model, so they are not reused. Delete the "
                             "file (it only holds cached completions) or point the run at a new one")

    def get(self, key: str) -> list[Completion] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM completions WHERE key=?", (key,)).fetchone()
        return None if row is None else [Completion(**c) for c in json.loads(row[0])]

    def put(self, key: str, completions: Sequence[Completion]) -> None:
        value = json.dumps([asdict(c) for c in completions], ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO completions VALUES (?, ?)", (key, value))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedLLM(LLM):
    """Wraps an LLM; looks every request up first and stores every fresh result at once."""

    backend = "cached"

    def __init__(self, inner: LLM, path: str | Path, cache: ResponseCache | None = None) -> None:
        """``cache`` replaces the SQLite file at ``path`` with any object that has the same
        get/put/close (a Ray worker's client of the driver-side cache: ``executor/ray_cache.py``)."""
        self.inner = inner
        self.model = inner.model
        self.options = inner.options
        self.batched = inner.batched
        self.cache = cache if cache is not None else ResponseCache(path)
        self.hits = 0
        self.misses = 0
        self.tokens = 0          # completion tokens actually generated (not served from the cache)
        self.prompt_tokens = 0   # prompt tokens of those fresh completions, one prompt per sample

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def prompt_evaluated(self) -> int:   # type: ignore[override]
        return self.inner.prompt_evaluated

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def chat_template(self) -> str | None:
        return self.inner.chat_template()

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return self.inner.render_chat(messages)

    def chat_stops(self) -> tuple[str, ...]:
        return self.inner.chat_stops()

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        identity = self.identity()
        keys = [request_key(identity, r) for r in requests]
        results: list[Result | None] = []
        for key, request in zip(keys, requests):
            hit = self.cache.get(key) if cacheable(request) else None
            results.append(None if hit is None else Result(hit, cached=True))
        self.hits += sum(r is not None for r in results)
        todo = [i for i, r in enumerate(results) if r is None]
        self.misses += len(todo)
        step = max(1, len(todo)) if self.inner.batched else 1
        for start in range(0, len(todo), step):
            chunk = todo[start:start + step]
            for i, fresh in zip(chunk, self.inner.generate([requests[i] for i in chunk])):
                if cacheable(requests[i]):
                    self.cache.put(keys[i], fresh.completions)
                self.tokens += sum(c.completion_tokens for c in fresh.completions)
                self.prompt_tokens += sum(c.prompt_tokens for c in fresh.completions)
                results[i] = fresh
        return results  # type: ignore[return-value]

    def stats(self) -> dict[str, int]:
        """Counts of this process: ``prompt_evaluated`` is what the backend really ran through
        the model after its prefix reuse, ``prompt_tokens`` what the samples' prompts add up to."""
        return {"calls": self.misses, "cache_hits": self.hits, "tokens": self.tokens,
                "prompt_tokens": self.prompt_tokens, "prompt_evaluated": self.inner.prompt_evaluated}

    def close(self) -> None:
        self.cache.close()
        self.inner.close()
