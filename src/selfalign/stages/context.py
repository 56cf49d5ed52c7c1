"""What a stage of a run may use: the run's config and directory, and resources built on demand.

The LLM (wrapped in the run's SQLite cache), the sandbox and the prompt pool are typed and built
on first use, then closed once at the end, so a resumed run that only has curation left never
loads a model. Only the ``stages`` package and the pipeline see this object: library code gets
what it needs (an ``LLM``, a ``Sandbox``, a config section) as plain arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from selfalign.manifest import NO_LLM
from selfalign.settings import Config

if TYPE_CHECKING:
    from selfalign.generate.pool import Pool
    from selfalign.llm.base import LLM
    from selfalign.sandbox import Sandbox


class RunContext:
    def __init__(self, config: Config, run_dir: Path, progress: bool = True) -> None:
        self.config = config
        self.run_dir = run_dir
        self.show_progress = progress
        self._llm: LLM | None = None
        self._sandbox: Sandbox | None = None
        self._pool: Pool | None = None

    def llm(self) -> LLM:
        if self._llm is None:
            from selfalign.cache import CachedLLM
            from selfalign.llm import load_llm

            m = self.config.model
            llm = load_llm(m.model or None, m.backend or None, m.options)
            self._llm = CachedLLM(llm, self.run_dir / "cache.sqlite") if m.cache else llm
        return self._llm

    def chunk_size(self) -> int:
        """``run.chunk_size``, or when it is 0 (auto) what the model's backend suggests (small
        for a CPU backend, hundreds for vLLM and servers), known without loading the model."""
        size = self.config.run.chunk_size
        if size:
            return size
        from selfalign.llm import LLM, LLMError, backend_class, resolve_model

        m = self.config.model
        try:
            backend = backend_class(resolve_model(m.model or None, m.backend or None)[0])
        except LLMError:        # a stage that needs the model says so itself, when it loads it
            return LLM.chunk_size
        return backend.suggested_chunk_size(m.options)

    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            from selfalign.sandbox import Sandbox

            e = self.config.execute
            self._sandbox = Sandbox(e.limits, workers=e.workers or None, isolation=e.isolation,
                                    cache_path=self.run_dir / "exec_cache.sqlite")
        return self._sandbox

    def pool(self) -> Pool:
        if self._pool is None:
            from selfalign.generate.pool import load_pool

            self._pool = load_pool()
        return self._pool

    def llm_identity(self) -> dict | None:
        """Which model (backend, weights fingerprint, output-changing options) answered, once loaded."""
        if self._llm is None:
            return None
        return {"name": self._llm.name, **self._llm.identity()}

    def llm_stats(self) -> dict[str, int]:
        """LLM calls made, cache hits, generated and prompt tokens so far in this process."""
        stats = getattr(self._llm, "stats", None)
        return stats() if stats else dict(NO_LLM)

    def close(self) -> None:
        for resource in (self._llm, self._sandbox):
            if resource is not None:
                resource.close()
        self._llm = self._sandbox = None
