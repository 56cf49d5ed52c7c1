"""Few-shot prompt builders for S->C, C->I and I->R: pure functions of (pool, rng, item).

Every prompt is a system paragraph, then ``## Example 1..k`` blocks drawn from the pool, then the
new item as block k+1 left open for the model to complete. The model is never asked to chat, so a
base model works as well as an instruct one; generation stops at the next ``## `` header. The rng
is the item's own (seeded by global seed + item index), so a prompt is reproducible on its own.
"""

from __future__ import annotations

import random

from selfalign.generate.pool import Example, Pool

HEADER = "## Example"
STOPS = ("\n## ",)


def _header(i: int) -> str:
    return f"{HEADER} {i}"


def _pick(pool: Pool, rng: random.Random, k: int) -> list[Example]:
    return rng.sample(list(pool.examples), min(k, len(pool.examples)))


def _assemble(system: str, blocks: list[str]) -> str:
    parts = [system] + [f"{_header(i)}\n{block}" for i, block in enumerate(blocks, 1)]
    return "\n\n".join(parts)


def concepts_prompt(pool: Pool, rng: random.Random, seed_code: str, k: int) -> str:
    def block(code: str, concepts: str) -> str:
        return f"Snippet:\n```python\n{code.strip()}\n```\nConcepts:{concepts}"

    shots = [block(e.seed, " " + ", ".join(e.concepts)) for e in _pick(pool, rng, k)]
    return _assemble(pool.system["concepts"], shots + [block(seed_code, "")])


def instruction_prompt(pool: Pool, rng: random.Random, properties: dict, k: int) -> str:
    def block(category: str, difficulty: str, concepts: list[str] | tuple[str, ...], text: str) -> str:
        return (f"Category: {category}\nDifficulty: {difficulty}\n"
                f"Concepts: {', '.join(concepts)}\nInstruction:\n{text}")

    shots = [block(e.category, e.difficulty, e.concepts, e.instruction) for e in _pick(pool, rng, k)]
    new = block(properties["category"], properties["difficulty"], properties["concepts"], "")
    return _assemble(pool.system["instructions"], shots + [new.rstrip("\n")]) + "\n"


def response_prompt(pool: Pool, rng: random.Random, instruction: str, category: str | None, k: int) -> str:
    """I->R prompt; the examples prefer the instruction's own category when the pool has it."""
    same = [e for e in pool.examples if e.category == category]
    source = Pool(tuple(same), pool.system) if len(same) >= k else pool
    shots = [f"Instruction:\n{e.instruction}\n\nResponse:\n{e.response}" for e in _pick(source, rng, k)]
    return _assemble(pool.system["responses"], shots + [f"Instruction:\n{instruction.strip()}\n\nResponse:\n"])


def sample_properties(rng: random.Random, categories: list[str], difficulties: list[str],
                      concepts: list[str]) -> dict:
    return {"category": rng.choice(categories), "difficulty": rng.choice(difficulties),
            "language": "Python", "concepts": list(concepts)}
