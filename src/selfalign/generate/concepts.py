"""S->C: ask the model which programming concepts a seed function shows."""

from __future__ import annotations

from typing import Iterator

from selfalign.context import StageContext
from selfalign.generate.common import generate_records, sampling, usage
from selfalign.generate.parse import Drop, parse_concepts
from selfalign.generate.prompts import concepts_prompt
from selfalign.llm.base import Completion, Request
from selfalign.records import Concepts, Dropped, Record, Seed

STOP = ("\n",)  # the answer is one comma-separated line


def concepts_stage(ctx: StageContext, items: list[tuple[int, Record]]) -> Iterator[Record | Dropped]:
    cfg = ctx.config.concepts
    requests = [Request(concepts_prompt(ctx.pool, ctx.rng("concepts", i), seed.content, cfg.fewshot),
                        sampling(ctx, "concepts", i, cfg.temperature, cfg.max_tokens, STOP))
                for i, seed in items]
    return generate_records(ctx, requests, [seed for _, seed in items], _build)


def _build(seed: Seed, completion: Completion, _: int) -> Concepts | Drop:
    parsed = parse_concepts(completion.text)
    if isinstance(parsed, Drop):
        return parsed
    return Concepts(parent_id=seed.id, seed=seed.content, concepts=parsed, raw=completion.text,
                    meta={"seed_id": seed.id, **usage(completion)})
