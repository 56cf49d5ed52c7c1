"""C->I: sample task properties and ask the model for a new task exercising the concepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from selfalign.generate.config import InstructionsConfig
from selfalign.generate.parse import Drop, parse_instruction
from selfalign.generate.pool import Pool
from selfalign.generate.prompts import STOPS, instruction_shots, sample_properties
from selfalign.llm.base import LLM, Completion, Request
from selfalign.records import Concepts, Dropped, Instruction, Record
from selfalign.stages.base import Items, Stage, item_rng
from selfalign.stages.context import RunContext
from selfalign.stages.generation import (formats_used, generate_records, prompt_format, render,
                                         sampling, stops, usage)


class InstructionsStage(Stage):
    name = "instructions"
    input = "concepts"
    sections = ("model", "instructions")

    def __init__(self, cfg: InstructionsConfig, seed: int, llm: LLM, pool: Pool) -> None:
        self.cfg, self.seed, self.llm, self.pool = cfg, seed, llm, pool

    @classmethod
    def from_run(cls, run: RunContext) -> "InstructionsStage":
        return cls(run.config.instructions, run.config.run.seed, run.llm(), run.pool())

    @classmethod
    def summary(cls, run_dir: Path) -> dict[str, Any]:
        return formats_used(run_dir, cls.name)

    def run(self, items: Items) -> Iterator[Record | Dropped]:
        cfg = self.cfg
        fmt = prompt_format(self.llm, cfg.format, self.name)
        stop = stops(self.llm, fmt, STOPS)
        requests, properties = [], {}
        for i, concepts in items:
            rng = item_rng(self.seed, self.name, i)
            props = sample_properties(rng, cfg.categories, cfg.difficulties, concepts.concepts)
            properties[concepts.id] = props
            prompt = render(self.llm, instruction_shots(self.pool, rng, props, cfg.fewshot), fmt)
            requests.append(Request(prompt,
                                    sampling(self.seed, self.name, i, cfg.temperature, cfg.max_tokens, stop)))

        def build(parent: Concepts, completion: Completion, _: int) -> Instruction | Drop:
            parsed = parse_instruction(completion.text)
            if isinstance(parsed, Drop):
                return parsed
            return Instruction(parent_id=parent.id, seed_id=parent.seed_id, instruction=parsed,
                               properties=properties[parent.id], raw=completion.text, meta=usage(completion))

        return generate_records(self.llm, requests, [c for _, c in items], build, fmt)
