"""I->R: sample n answers per instruction and split each into solution and tests."""

from __future__ import annotations

from typing import Iterator

from selfalign.context import StageContext
from selfalign.generate.common import generate_records, sampling, seed_id, usage
from selfalign.generate.parse import Drop, parse_response
from selfalign.generate.prompts import STOPS, response_prompt
from selfalign.llm.base import Completion, Request
from selfalign.records import Dropped, Instruction, Record, Response


def responses_stage(ctx: StageContext, items: list[tuple[int, Record]]) -> Iterator[Record | Dropped]:
    cfg = ctx.config.responses
    requests = [Request(response_prompt(ctx.pool, ctx.rng("responses", i), ins.instruction,
                                        ins.properties.get("category"), cfg.fewshot),
                        sampling(ctx, "responses", i, cfg.temperature, cfg.max_tokens, STOPS, n=cfg.n))
                for i, ins in items]
    return generate_records(ctx, requests, [ins for _, ins in items], _build)


def _build(ins: Instruction, completion: Completion, sample: int) -> Response | Drop:
    parsed = parse_response(completion.text)
    if isinstance(parsed, Drop):
        return parsed
    return Response(parent_id=ins.id, instruction=ins.instruction, response=completion.text.strip(),
                    solution=parsed.solution, tests=parsed.tests, sample=sample, raw=completion.text,
                    meta={"seed_id": seed_id(ins), **usage(completion)})
