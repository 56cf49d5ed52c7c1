"""Curation: one passing response per instruction, exact dedup, length cap, tests stripped;
then the SFT export in the instruct template's prompt/completion form.

The choice among an instruction's passing responses is random but seeded by the instruction id,
so it does not depend on the order responses arrived in. Exact dedup compares whitespace-normalised
text, so reformatted copies of one instruction or answer count as one.
"""

from __future__ import annotations

import random
from typing import Iterator

from selfalign.context import StageContext
from selfalign.generate.parse import strip_tests
from selfalign.records import Dropped, Example, Record, Verdict
from selfalign.store import AtomicJsonl, read_records
from selfalign.train.template import render_prompt

SFT_FILE = "sft.jsonl"


def _norm(text: str) -> str:
    return " ".join(text.split())


def curate_stage(ctx: StageContext, items: list[tuple[int, Record]]) -> Iterator[Record | Dropped]:
    by_instruction: dict[str, list[Verdict]] = {}
    for _, verdict in items:
        by_instruction.setdefault(verdict.instruction_id, []).append(verdict)
    seen_instructions: set[str] = set()
    seen_responses: set[str] = set()
    limit = ctx.config.curate.max_instruction_words
    for instruction_id, verdicts in by_instruction.items():
        rng = random.Random(f"curate/{ctx.config.run.seed}/{instruction_id}")
        chosen = rng.choice(verdicts)
        for other in verdicts:
            if other is not chosen:
                yield Dropped("not_selected", other.to_dict(), f"one response per instruction ({chosen.id} kept)")
        reason = _reject(chosen, limit, seen_instructions, seen_responses)
        if reason:
            yield Dropped(reason, chosen.to_dict())
            continue
        yield Example(parent_id=chosen.id, instruction=chosen.instruction.strip(),
                      response=strip_tests(chosen.response),
                      meta={"seed_id": chosen.meta.get("seed_id"), "instruction_id": instruction_id,
                            "response_id": chosen.parent_id})


def _reject(v: Verdict, limit: int, seen_instructions: set[str], seen_responses: set[str]) -> str | None:
    if len(v.instruction.split()) > limit:
        return "instruction_too_long"
    key_i, key_r = _norm(v.instruction), _norm(strip_tests(v.response))
    if key_i in seen_instructions:
        return "duplicate_instruction"
    if key_r in seen_responses:
        return "duplicate_response"
    seen_instructions.add(key_i)
    seen_responses.add(key_r)
    return None


def export_sft(ctx: StageContext) -> dict[str, str]:
    """Write ``sft.jsonl``: plain JSONL (no header: trainers read it directly), one row per example
    with the rendered ``prompt`` and the ``completion`` (BOS/EOS are added as tokens at training)."""
    with AtomicJsonl(ctx.run_dir / SFT_FILE) as out:
        for ex in read_records(ctx.run_dir / "curate.jsonl", "example"):
            out.write({"id": ex.id, "prompt": render_prompt(ex.instruction), "completion": ex.response,
                       "instruction": ex.instruction, "response": ex.response, "seed_id": ex.meta.get("seed_id")})
    return {"sft": SFT_FILE}
