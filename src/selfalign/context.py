"""What a running stage may use: the config, the run directory, and lazily built resources.

The LLM (wrapped in the run's SQLite cache), the sandbox and the prompt pool are created on first
use and closed once at the end, so a resumed run that only has curation left never loads a model.
Per-item randomness comes from here too: item i of a stage draws from (stage, global seed + i), so
any item can be regenerated alone and gets the same prompt and sampling seed.
"""

from __future__ import annotations

import contextlib
import random
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from selfalign.config import Config
from selfalign.records import content_hash


class StageContext:
    def __init__(self, config: Config, run_dir: Path, progress: bool = True) -> None:
        self.config = config
        self.run_dir = run_dir
        self.show_progress = progress and sys.stderr.isatty()
        self._llm: Any = None
        self._sandbox: Any = None
        self._pool: Any = None

    # -- per-item randomness ---------------------------------------------------------------
    def rng(self, stage: str, index: int) -> random.Random:
        return random.Random(f"{stage}/{self.config.run.seed + index}")

    def sampling_seed(self, stage: str, index: int) -> int:
        return int(content_hash(stage, self.config.run.seed + index), 16) % (2**31 - 1)

    # -- lazily built resources ------------------------------------------------------------
    @property
    def llm(self) -> Any:
        if self._llm is None:
            from selfalign.cache import CachedLLM
            from selfalign.llm import load_llm

            m = self.config.model
            llm = load_llm(m.model or None, m.backend or None, m.options)
            self._llm = CachedLLM(llm, self.run_dir / "cache.sqlite") if m.cache else llm
        return self._llm

    @property
    def sandbox(self) -> Any:
        if self._sandbox is None:
            from selfalign.sandbox import Limits, Sandbox

            e = self.config.execute
            self._sandbox = Sandbox(Limits(timeout_s=e.timeout_s, memory_mb=e.memory_mb),
                                    workers=e.workers or None,
                                    cache_path=self.run_dir / "exec_cache.sqlite")
        return self._sandbox

    @property
    def pool(self) -> Any:
        if self._pool is None:
            from selfalign.generate.pool import load_pool

            self._pool = load_pool()
        return self._pool

    def llm_stats(self) -> dict[str, int]:
        """LLM calls made, cache hits and generated tokens so far in this process."""
        if self._llm is None or not hasattr(self._llm, "stats"):
            return {"calls": 0, "cache_hits": 0, "tokens": 0}
        return self._llm.stats()

    def close(self) -> None:
        for resource in (self._llm, self._sandbox):
            if resource is not None:
                resource.close()
        self._llm = self._sandbox = None

    @contextlib.contextmanager
    def progress_bar(self, name: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """Yield an ``advance(n)`` callback; a rich bar with rate and ETA on a terminal."""
        if not self.show_progress:
            yield lambda n: None
            return
        from selfalign.report.progress import stage_progress

        with stage_progress(name, total) as advance:
            yield advance
