"""Few-shot prompt builders for S->C, C->I and I->R: pure functions of (pool, rng, item).

A builder returns a ``FewShot``: the system paragraph, k (question, answer) pairs drawn from the
pool and the new question. It is rendered in one of two formats, with the same draws:

- ``completion``: the system paragraph, then ``## Example 1..k`` blocks, then the new item as
  block k+1 left open for the model to complete. A base model works as well as an instruct one;
  generation stops at the next ``## `` header.
- ``chat``: the system paragraph as the system turn, each example as a user turn and the
  assistant's answer, the new question as the last user turn (``messages()``); the model's own
  chat template turns that into text (``LLM.render_chat``), and generation stops at the end of
  the assistant's turn. Instruct models answer in the format they were tuned on.

The rng is the item's own (seeded by global seed + item index), so a prompt is reproducible on
its own and both formats of one item show the same examples.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from selfalign.generate.pool import Example, Pool

HEADER = "## Example"
STOPS = ("\n## ",)
FORMATS = ("auto", "completion", "chat")


@dataclass(frozen=True)
class FewShot:
    system: str
    shots: tuple[tuple[str, str], ...]    # (question, answer) per example
    query: str                            # the new question
    joiner: str                           # completion format: the text between question and answer

    def completion(self) -> str:
        blocks = [f"{q}{self.joiner}{a}" for q, a in self.shots] + [f"{self.query}{self.joiner}"]
        parts = [self.system] + [f"{HEADER} {i}\n{block}" for i, block in enumerate(blocks, 1)]
        return "\n\n".join(parts)

    def messages(self) -> list[dict[str, str]]:
        turns = [{"role": "system", "content": self.system}]
        for question, answer in self.shots:
            turns += [{"role": "user", "content": question.strip()},
                      {"role": "assistant", "content": answer.strip()}]
        return turns + [{"role": "user", "content": self.query.strip()}]


def _pick(pool: Pool, rng: random.Random, k: int) -> list[Example]:
    return rng.sample(list(pool.examples), min(k, len(pool.examples)))


def _snippet(code: str) -> str:
    return f"Snippet:\n```python\n{code.strip()}\n```"


def _properties(category: str, difficulty: str, concepts: list[str] | tuple[str, ...]) -> str:
    return f"Category: {category}\nDifficulty: {difficulty}\nConcepts: {', '.join(concepts)}"


def concepts_shots(pool: Pool, rng: random.Random, seed_code: str, k: int) -> FewShot:
    shots = tuple((_snippet(e.seed), " " + ", ".join(e.concepts)) for e in _pick(pool, rng, k))
    return FewShot(pool.system["concepts"], shots, _snippet(seed_code), "\nConcepts:")


def instruction_shots(pool: Pool, rng: random.Random, properties: dict, k: int) -> FewShot:
    shots = tuple((_properties(e.category, e.difficulty, e.concepts), e.instruction)
                  for e in _pick(pool, rng, k))
    new = _properties(properties["category"], properties["difficulty"], properties["concepts"])
    return FewShot(pool.system["instructions"], shots, new, "\nInstruction:\n")


def response_shots(pool: Pool, rng: random.Random, instruction: str, category: str | None,
                   k: int) -> FewShot:
    """I->R examples; they prefer the instruction's own category when the pool has enough."""
    same = [e for e in pool.examples if e.category == category]
    source = Pool(tuple(same), pool.system) if len(same) >= k else pool
    shots = tuple((f"Instruction:\n{e.instruction}", e.response) for e in _pick(source, rng, k))
    return FewShot(pool.system["responses"], shots, f"Instruction:\n{instruction.strip()}",
                   "\n\nResponse:\n")


def concepts_prompt(pool: Pool, rng: random.Random, seed_code: str, k: int) -> str:
    return concepts_shots(pool, rng, seed_code, k).completion()


def instruction_prompt(pool: Pool, rng: random.Random, properties: dict, k: int) -> str:
    return instruction_shots(pool, rng, properties, k).completion()


def response_prompt(pool: Pool, rng: random.Random, instruction: str, category: str | None, k: int) -> str:
    return response_shots(pool, rng, instruction, category, k).completion()


def sample_properties(rng: random.Random, categories: list[str], difficulties: list[str],
                      concepts: list[str]) -> dict:
    return {"category": rng.choice(categories), "difficulty": rng.choice(difficulties),
            "language": "Python", "concepts": list(concepts)}
