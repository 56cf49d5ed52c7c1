"""S->C: ask the model which programming concepts a seed function shows."""

from __future__ import annotations

from typing import Iterator

from selfalign.generate.config import ConceptsConfig
from selfalign.generate.parse import Drop, parse_concepts
from selfalign.generate.pool import Pool
from selfalign.generate.prompts import concepts_prompt
from selfalign.llm.base import LLM, Completion, Request
from selfalign.records import Concepts, Dropped, Record, Seed
from selfalign.stages.base import Items, Stage, item_rng
from selfalign.stages.context import RunContext
from selfalign.stages.generation import generate_records, sampling, usage

STOP = ("\n",)  # the answer is one comma-separated line


class ConceptsStage(Stage):
    name = "concepts"
    input = "seeds"
    sections = ("model", "concepts")
    limited = True

    def __init__(self, cfg: ConceptsConfig, seed: int, llm: LLM, pool: Pool) -> None:
        self.cfg, self.seed, self.llm, self.pool = cfg, seed, llm, pool

    @classmethod
    def from_run(cls, run: RunContext) -> "ConceptsStage":
        return cls(run.config.concepts, run.config.run.seed, run.llm(), run.pool())

    def run(self, items: Items) -> Iterator[Record | Dropped]:
        cfg = self.cfg
        requests = [Request(concepts_prompt(self.pool, item_rng(self.seed, self.name, i), seed.content, cfg.fewshot),
                            sampling(self.seed, self.name, i, cfg.temperature, cfg.max_tokens, STOP))
                    for i, seed in items]
        return generate_records(self.llm, requests, [seed for _, seed in items], _build)


def _build(seed: Seed, completion: Completion, _: int) -> Concepts | Drop:
    parsed = parse_concepts(completion.text)
    if isinstance(parsed, Drop):
        return parsed
    return Concepts(parent_id=seed.id, seed_id=seed.id, seed=seed.content, concepts=parsed,
                    raw=completion.text, meta=usage(completion))
