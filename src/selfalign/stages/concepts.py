"""S->C: ask the model which programming concepts a seed function shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from selfalign.generate.config import ConceptsConfig
from selfalign.generate.parse import Drop, parse_concepts
from selfalign.generate.pool import Pool
from selfalign.generate.prompts import concepts_shots
from selfalign.llm.base import LLM, Completion, Request
from selfalign.records import Concepts, Dropped, Record, Seed
from selfalign.stages.base import Items, Stage, item_rng
from selfalign.stages.context import RunContext
from selfalign.stages.generation import (formats_used, generate_records, prompt_format, render,
                                         sampling, stops, usage)

STOP = ("\n",)  # the answer is one comma-separated line, in either format


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

    @classmethod
    def summary(cls, run_dir: Path) -> dict[str, Any]:
        return formats_used(run_dir, cls.name)

    def run(self, items: Items) -> Iterator[Record | Dropped]:
        cfg = self.cfg
        fmt = prompt_format(self.llm, cfg.format, self.name)
        stop = stops(self.llm, fmt, (), both=STOP)
        requests = [Request(render(self.llm, concepts_shots(self.pool, item_rng(self.seed, self.name, i),
                                                            seed.content, cfg.fewshot), fmt),
                            sampling(self.seed, self.name, i, cfg.temperature, cfg.max_tokens, stop))
                    for i, seed in items]
        return generate_records(self.llm, requests, [seed for _, seed in items], _build, fmt)


def _build(seed: Seed, completion: Completion, _: int) -> Concepts | Drop:
    parsed = parse_concepts(completion.text)
    if isinstance(parsed, Drop):
        return parsed
    return Concepts(parent_id=seed.id, seed_id=seed.id, seed=seed.content, concepts=parsed,
                    raw=completion.text, meta=usage(completion))
