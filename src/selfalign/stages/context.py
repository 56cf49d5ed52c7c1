"""What a stage of a run may use: the run's config and directory, and resources built on demand.

The LLM (wrapped in the run's SQLite cache), the sandbox and the prompt pool are typed and built
on first use, then closed once at the end, so a resumed run that only has curation left never
loads a model. Only the ``stages`` package and the pipeline see this object: library code gets
what it needs (an ``LLM``, a ``Sandbox``, a config section) as plain arguments.

An executor that runs chunks in other processes (``executor/ray.py``) sends them a copy made by
``for_worker``: the same config and run directory, resources of its own, and ``caches`` that
talk to the one process writing each SQLite file; it adds what those workers used back into the
driver's context (``add_llm_use``), so the manifest counts every call wherever it ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from selfalign.manifest import NO_LLM
from selfalign.settings import Config

if TYPE_CHECKING:
    from selfalign.cache import ResponseCache
    from selfalign.generate.pool import Pool
    from selfalign.llm.base import LLM
    from selfalign.quality.minhash import Sketcher
    from selfalign.sandbox import Sandbox
    from selfalign.sandbox.cache import VerdictCache


class Caches(Protocol):
    """Opens the run's two caches somewhere other than a local SQLite file."""

    def responses(self, path: Path) -> "ResponseCache": ...

    def verdicts(self, path: Path) -> "VerdictCache": ...


class RunContext:
    def __init__(self, config: Config, run_dir: Path, progress: bool = True,
                 caches: Caches | None = None, pin_sandbox: bool = True) -> None:
        self.config = config
        self.run_dir = run_dir
        self.show_progress = progress
        self.caches = caches             # None: this process opens the SQLite files itself
        self.pin_sandbox = pin_sandbox   # pin sandbox workers to this process's least-used CPUs
        # Where MinHash near-dedup hashes its texts (None: here); the ray executor sets its tasks.
        self.sketcher: Sketcher | None = None
        self._llm: LLM | None = None
        self._sandbox: Sandbox | None = None
        self._pool: Pool | None = None
        self._elsewhere = dict(NO_LLM)   # LLM use of chunks run in other processes
        self._elsewhere_identity: dict | None = None

    def for_worker(self, caches: Caches, config: Config | None = None) -> "RunContext":
        """A context to send to another process: no resources yet, the given caches, and sandbox
        workers left unpinned (several worker processes on one node would each pin theirs to
        the same first CPU)."""
        return RunContext(config or self.config, self.run_dir, progress=False, caches=caches,
                          pin_sandbox=False)

    def add_llm_use(self, used: dict[str, int], identity: dict | None) -> None:
        """Count LLM use of a chunk that ran elsewhere, and the model that answered it."""
        for key, value in used.items():
            self._elsewhere[key] = self._elsewhere.get(key, 0) + value
        self._elsewhere_identity = identity or self._elsewhere_identity

    def llm(self) -> LLM:
        if self._llm is None:
            from selfalign.cache import CachedLLM
            from selfalign.llm import load_llm

            m = self.config.model
            llm = load_llm(m.model or None, m.backend or None, m.options)
            path = self.run_dir / "cache.sqlite"
            cache = self.caches.responses(path) if self.caches and m.cache else None
            self._llm = CachedLLM(llm, path, cache=cache) if m.cache else llm
        return self._llm

    def chunk_size(self) -> int:
        """``run.chunk_size``, or when it is 0 (auto) what the model's backend suggests (small
        for a CPU backend, hundreds for vLLM and servers), known without loading the model."""
        size = self.config.run.chunk_size
        if size:
            return size
        from selfalign.llm import LLM, LLMError, backend_of

        m = self.config.model
        try:
            backend = backend_of(m.model or None, m.backend or None)
        except LLMError:        # a stage that needs the model says so itself, when it loads it
            return LLM.chunk_size
        return backend.suggested_chunk_size(m.options, m.model)

    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            from selfalign.sandbox import Sandbox

            e = self.config.execute
            path = self.run_dir / "exec_cache.sqlite"
            self._sandbox = Sandbox(e.limits, workers=e.workers or None, isolation=e.isolation,
                                    cache_path=path, cache=self.caches.verdicts(path) if self.caches else None,
                                    pin_cpus=self.pin_sandbox)
        return self._sandbox

    def pool(self) -> Pool:
        if self._pool is None:
            from selfalign.generate.pool import load_pool

            self._pool = load_pool()
        return self._pool

    def llm_identity(self) -> dict | None:
        """Which model (backend, weights fingerprint, output-changing options) answered, once loaded."""
        if self._llm is None:
            return self._elsewhere_identity
        return {"name": self._llm.name, **self._llm.identity()}

    def llm_stats(self) -> dict[str, int]:
        """LLM calls made, cache hits, generated and prompt tokens so far in this process (and
        in the processes that ran this run's chunks elsewhere)."""
        stats = getattr(self._llm, "stats", None)
        here: dict[str, Any] = stats() if stats else dict(NO_LLM)
        return {k: v + self._elsewhere.get(k, 0) for k, v in here.items()}

    def close(self) -> None:
        for resource in (self._llm, self._sandbox):
            if resource is not None:
                resource.close()
        self._llm = self._sandbox = None
