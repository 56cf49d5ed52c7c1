"""I->R: sample n answers per instruction and split each into solution and tests.

With ``responses.ask_tests`` an answer that ends after its solution with no tests at all (the
only thing it lacks: with any tests block it would parse) is continued once, in the same chunk:
its prompt plus the answer plus a ``Tests:`` code block the model fills, stopping at the block's
end. The tests are still the model's own and still run in the sandbox; the training response
is, as for every answer, the text before the tests. The record says ``tests_asked`` in its meta
(and in a drop's fields), and the manifest counts them, so the funnel shows what the lever added.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from selfalign.generate.config import ResponsesConfig
from selfalign.generate.parse import Drop, ParsedResponse, locate_tests, parse_response
from selfalign.generate.pool import Pool
from selfalign.generate.prompts import STOPS, response_shots
from selfalign.llm.base import LLM, Completion, Request, Result
from selfalign.records import Dropped, Instruction, Record, Response
from selfalign.stages.base import Items, Stage, item_rng
from selfalign.stages.context import RunContext
from selfalign.stages.generation import (formats_used, output_fields, prompt_format, records_from, render,
                                         sampling, stops, usage)

TESTS_CUE = "\n\nTests:\n```python\n"
TESTS_END = "```"


@dataclass
class AskedCompletion(Completion):
    """An answer continued for its tests: the text and token counts of both calls together."""

    tests_asked: bool = True


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
        summary = formats_used(run_dir, cls.name)
        asked = count_tests_asked(run_dir)
        if asked["asked"]:
            summary["tests_asked"] = asked
        return summary

    def run(self, items: Items) -> Iterator[Record | Dropped]:
        cfg = self.cfg
        fmt = prompt_format(self.llm, cfg.format, self.name)
        stop = stops(self.llm, fmt, STOPS)
        requests = [Request(render(self.llm, response_shots(self.pool, item_rng(self.seed, self.name, i),
                                                            ins.instruction, ins.properties.get("category"),
                                                            cfg.fewshot), fmt),
                            sampling(self.seed, self.name, i, cfg.temperature, cfg.max_tokens, stop, n=cfg.n))
                    for i, ins in items]
        results = self.llm.generate(requests)
        if cfg.ask_tests:
            results = self._ask_tests(requests, [i for i, _ in items], results, stop)
        yield from records_from([ins for _, ins in items], results, _build, fmt)

    def _ask_tests(self, requests: Sequence[Request], indices: Sequence[int], results: list[Result],
                   stop: tuple[str, ...]) -> list[Result]:
        """Continue every answer that lacks only its tests, in one LLM call for the chunk."""
        asks = []
        for k, (request, index, result) in enumerate(zip(requests, indices, results)):
            for j, answer in enumerate(result.completions):
                if wants_tests(answer):
                    params = sampling(self.seed, f"{self.name}.tests", index, self.cfg.temperature,
                                      self.cfg.tests_max_tokens, stop + (TESTS_END,))
                    if params.seed is not None:     # one seed per sample, as the n samples have
                        params = dataclasses.replace(params, seed=params.seed + j)
                    asks.append((k, j, Request(request.prompt + answer.text.rstrip() + TESTS_CUE, params)))
        if not asks:
            return results
        merged = [dataclasses.replace(r, completions=list(r.completions)) for r in results]
        for (k, j, _), more in zip(asks, self.llm.generate([request for _, _, request in asks])):
            first, tests = results[k].completions[j], more.completions[0]
            closing = "" if tests.truncated else "\n" + TESTS_END
            merged[k].completions[j] = AskedCompletion(
                text=first.text.rstrip() + TESTS_CUE + tests.text.rstrip("\n") + closing,
                finish_reason=tests.finish_reason, prompt_tokens=first.prompt_tokens + tests.prompt_tokens,
                completion_tokens=first.completion_tokens + tests.completion_tokens)
        return merged


def wants_tests(answer: Completion) -> bool:
    """The answer finished, has no tests section at all, and any tests block would complete it
    (so its solution is there and parses)."""
    if answer.truncated or locate_tests(answer.text) is not None:
        return False
    return isinstance(parse_response(answer.text.rstrip() + TESTS_CUE + "assert True\n" + TESTS_END),
                      ParsedResponse)


def count_tests_asked(run_dir: Path) -> dict[str, int]:
    """How many answers were continued for their tests, and how many of those were kept."""
    asked = [kept for kept, fields in output_fields(run_dir, ResponsesStage.name) if fields.get("tests_asked")]
    return {"asked": len(asked), "kept": sum(asked)}


def _build(ins: Instruction, completion: Completion, sample: int) -> Response | Drop:
    parsed = parse_response(completion.text)
    if isinstance(parsed, Drop):
        return parsed
    return Response(parent_id=ins.id, seed_id=ins.seed_id, instruction=ins.instruction,
                    response=completion.text.strip(), solution=parsed.solution, tests=parsed.tests,
                    sample=sample, raw=completion.text, meta=usage(completion))
