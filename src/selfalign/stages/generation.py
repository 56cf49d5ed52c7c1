"""What the three generation stages share: one LLM call per chunk, and each completion turned
into a record or a drop (truncated outputs are always dropped, never repaired)."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

from selfalign.generate.parse import Drop
from selfalign.llm.base import LLM, Completion, Request, SamplingParams
from selfalign.records import Dropped, Record
from selfalign.stages.base import sampling_seed


def sampling(seed: int, stage: str, index: int, temperature: float, max_tokens: int,
             stop: tuple[str, ...], n: int = 1) -> SamplingParams:
    return SamplingParams(temperature=temperature, max_tokens=max_tokens, stop=stop, n=n,
                          seed=sampling_seed(seed, stage, index))


def usage(c: Completion) -> dict[str, Any]:
    return {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
            "finish_reason": c.finish_reason}


def generate_records(llm: LLM, requests: list[Request], parents: Sequence[Record],
                     build: Callable[[Any, Completion, int], Record | Drop]) -> Iterator[Record | Dropped]:
    """One LLM call for the chunk; ``build(parent, completion, sample_index)`` makes each record."""
    for parent, result in zip(parents, llm.generate(requests)):
        for j, completion in enumerate(result.completions):
            base = {"parent_id": parent.id, "sample": j, "raw": completion.text, **usage(completion)}
            if completion.truncated:
                yield Dropped("truncated", base, f"hit max_tokens after {completion.completion_tokens} tokens")
                continue
            made = build(parent, completion, j)
            yield Dropped(made.reason, base, made.detail) if isinstance(made, Drop) else made
