"""I->R: sample n answers per instruction and split each into solution and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from selfalign.generate.config import ResponsesConfig
from selfalign.generate.parse import Drop, parse_response
from selfalign.generate.pool import Pool
from selfalign.generate.prompts import STOPS, response_shots
from selfalign.llm.base import LLM, Completion, Request
from selfalign.records import Dropped, Instruction, Record, Response
from selfalign.stages.base import Items, Stage, item_rng
from selfalign.stages.context import RunContext
from selfalign.stages.generation import (formats_used, generate_records, prompt_format, render,
                                         sampling, stops, usage)


class ResponsesStage(Stage):
    name = "responses"
    input = "instructions"
    sections = ("model", "responses")

    def __init__(self, cfg: ResponsesConfig, seed: int, llm: LLM, pool: Pool) -> None:
        self.cfg, self.seed, self.llm, self.pool = cfg, seed, llm, pool

    @classmethod
    def from_run(cls, run: RunContext) -> "ResponsesStage":
        return cls(run.config.responses, run.config.run.seed, run.llm(), run.pool())

    @classmethod
    def summary(cls, run_dir: Path) -> dict[str, Any]:
        return formats_used(run_dir, cls.name)

    def run(self, items: Items) -> Iterator[Record | Dropped]:
        cfg = self.cfg
        fmt = prompt_format(self.llm, cfg.format, self.name)
        stop = stops(self.llm, fmt, STOPS)
        requests = [Request(render(self.llm, response_shots(self.pool, item_rng(self.seed, self.name, i),
                                                            ins.instruction, ins.properties.get("category"),
                                                            cfg.fewshot), fmt),
                            sampling(self.seed, self.name, i, cfg.temperature, cfg.max_tokens, stop, n=cfg.n))
                    for i, ins in items]
        return generate_records(self.llm, requests, [ins for _, ins in items], _build, fmt)


def _build(ins: Instruction, completion: Completion, sample: int) -> Response | Drop:
    parsed = parse_response(completion.text)
    if isinstance(parsed, Drop):
        return parsed
    return Response(parent_id=ins.id, seed_id=ins.seed_id, instruction=ins.instruction,
                    response=completion.text.strip(), solution=parsed.solution, tests=parsed.tests,
                    sample=sample, raw=completion.text, meta=usage(completion))
