"""Stage 0: mine the configured sources for seed functions (see ``selfalign.seeds``).

Seed mining needs the whole corpus at once (dedup is global), so it is one chunk; a killed
mining run starts again from the first file (only the finished stage is skipped on resume).
"""

from __future__ import annotations

from typing import Iterator

from selfalign.llm.base import LLM
from selfalign.records import Dropped, Record
from selfalign.seeds.config import SeedsConfig
from selfalign.stages.base import Items, Stage
from selfalign.stages.context import RunContext


class SeedsStage(Stage):
    name = "seeds"
    input = None
    sections = ("seeds",)
    whole = True

    def __init__(self, cfg: SeedsConfig, llm: LLM | None, progress: bool) -> None:
        self.cfg, self.llm, self.progress = cfg, llm, progress

    @classmethod
    def from_run(cls, run: RunContext) -> "SeedsStage":
        # The self-judged docstring filter is the only part that needs the model.
        cfg = run.config.seeds
        return cls(cfg, run.llm() if cfg.judge else None, run.show_progress)

    def run(self, items: Items) -> Iterator[Record | Dropped]:
        from selfalign.seeds.mine import mine_seeds

        yield from mine_seeds(self.cfg, llm=self.llm, progress=self.progress)
