"""C->I: sample task properties and ask the model for a new task exercising the concepts."""

from __future__ import annotations

from typing import Iterator

from selfalign.context import StageContext
from selfalign.generate.common import generate_records, sampling, seed_id, usage
from selfalign.generate.parse import Drop, parse_instruction
from selfalign.generate.prompts import STOPS, instruction_prompt, sample_properties
from selfalign.llm.base import Completion, Request
from selfalign.records import Concepts, Dropped, Instruction, Record


def instructions_stage(ctx: StageContext, items: list[tuple[int, Record]]) -> Iterator[Record | Dropped]:
    cfg = ctx.config.instructions
    requests, properties = [], {}
    for i, concepts in items:
        rng = ctx.rng("instructions", i)
        props = sample_properties(rng, cfg.categories, cfg.difficulties, concepts.concepts)
        properties[concepts.id] = props
        requests.append(Request(instruction_prompt(ctx.pool, rng, props, cfg.fewshot),
                                sampling(ctx, "instructions", i, cfg.temperature, cfg.max_tokens, STOPS)))

    def build(parent: Concepts, completion: Completion, _: int) -> Instruction | Drop:
        parsed = parse_instruction(completion.text)
        if isinstance(parsed, Drop):
            return parsed
        return Instruction(parent_id=parent.id, instruction=parsed, properties=properties[parent.id],
                           raw=completion.text, meta={"seed_id": seed_id(parent), **usage(completion)})

    return generate_records(ctx, requests, [c for _, c in items], build)
