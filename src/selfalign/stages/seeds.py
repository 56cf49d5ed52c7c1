"""Stage 0: mine the configured sources for seed functions (see ``selfalign.seeds``).

Seed mining needs the whole corpus at once (dedup is global), so it is one chunk; a killed
mining run starts again from the first file (only the finished stage is skipped on resume).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from selfalign.llm.base import LLM
from selfalign.records import Dropped, Record
from selfalign.seeds.config import SeedsConfig
from selfalign.stages.base import Items, Stage
from selfalign.stages.context import RunContext
from selfalign.store import atomic_write_text

if TYPE_CHECKING:   # dedup loads numpy
    from selfalign.quality.minhash import Sketcher

# What the seeds were decontaminated against, saved while the chunk runs for the manifest entry.
DECONTAM_FILE = "seeds.decontamination.json"


class SeedsStage(Stage):
    name = "seeds"
    input = None
    sections = ("seeds",)
    whole = True

    def __init__(self, cfg: SeedsConfig, llm: LLM | None, progress: bool, run_dir: Path | None = None,
                 sketcher: Sketcher | None = None) -> None:
        self.cfg, self.llm, self.progress, self.run_dir, self.sketcher = cfg, llm, progress, run_dir, sketcher

    @classmethod
    def from_run(cls, run: RunContext) -> "SeedsStage":
        # The self-judged docstring filter is the only part that needs the model.
        cfg = run.config.seeds
        return cls(cfg, run.llm() if cfg.judge else None, run.show_progress, run.run_dir, run.sketcher)

    def run(self, items: Items) -> Iterator[Record | Dropped]:
        from selfalign.seeds.mine import mine_seeds

        found: dict[str, Any] = {}
        yield from mine_seeds(self.cfg, llm=self.llm, progress=self.progress, decontamination=found,
                              sketcher=self.sketcher)
        if self.run_dir is not None:
            summary = {"enabled": True, **found} if self.cfg.decontaminate else {"enabled": False}
            atomic_write_text(self.run_dir / DECONTAM_FILE, json.dumps(summary, indent=1) + "\n")

    @classmethod
    def summary(cls, run_dir: Path) -> dict[str, Any]:
        """Which benchmarks the seeds were decontaminated against, and which were unavailable."""
        try:
            return {"decontamination": json.loads((run_dir / DECONTAM_FILE).read_text(encoding="utf-8"))}
        except (OSError, ValueError):
            return {}
