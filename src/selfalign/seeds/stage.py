"""The seeds stage of the pipeline: mine the configured sources (see ``selfalign.seeds``)."""

from __future__ import annotations

from typing import Iterator

from selfalign.context import StageContext
from selfalign.records import Dropped, Record


def seeds_stage(ctx: StageContext, items: list[tuple[int, Record]]) -> Iterator[Record | Dropped]:
    from selfalign.seeds import mine_seeds

    cfg = ctx.config.seeds
    # The self-judged docstring filter is the only part that needs the model.
    llm = ctx.llm if cfg.judge else None
    yield from mine_seeds(cfg, llm=llm, progress=ctx.show_progress)
