"""Curation: one passing response per instruction, then the shared keep/drop filters.

The choice among an instruction's passing responses is random but seeded by (run seed,
instruction id), so it does not depend on the order responses arrived in. The chosen responses
then go through ``selfalign.quality`` filters, the same ones seed mining uses: a word cap on the
instruction, and exact dedup (whitespace-normalised) on the instruction and on the response
without its tests. The trade-off: all verdicts are grouped in memory (one dict entry per
instruction), which is fine at the pipeline's sizes; millions of rows will need a sharded pass.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable, Iterator

from selfalign.curate.config import CurateConfig
from selfalign.generate.parse import strip_tests
from selfalign.quality.filters import ExactDedup, Filter, MaxWords, run_filters
from selfalign.records import Dropped, Example, Verdict


@dataclass(frozen=True)
class _Field:
    """One text of a chosen verdict, as a filter item."""

    verdict: Verdict
    text: str

    @property
    def label(self) -> str:
        return self.verdict.id


def _squash(text: str) -> str:
    return " ".join(text.split())


def group_by_instruction(verdicts: Iterable[Verdict]) -> dict[str, list[Verdict]]:
    groups: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        groups.setdefault(verdict.instruction_id, []).append(verdict)
    return groups


def choose(groups: dict[str, list[Verdict]], seed: int) -> Iterator[Verdict | Dropped]:
    """One verdict per instruction (seeded draw); the others as ``not_selected`` drops."""
    for instruction_id, group in groups.items():
        # Drawn from the group sorted by id, so the pick does not depend on arrival order.
        ranked = sorted(group, key=lambda v: v.id)
        chosen = random.Random(f"curate/{seed}/{instruction_id}").choice(ranked)
        for other in group:
            if other is not chosen:
                yield Dropped("not_selected", other.to_dict(), f"one response per instruction ({chosen.id} kept)")
        yield chosen


def curate(verdicts: Iterable[Verdict], cfg: CurateConfig, seed: int) -> Iterator[Example | Dropped]:
    """Examples and drops (with reasons) from passing verdicts, in instruction order."""
    chosen: list[Verdict] = []
    for item in choose(group_by_instruction(verdicts), seed):
        if isinstance(item, Dropped):
            yield item
        else:
            chosen.append(item)
    instruction_filters: list[Filter] = [MaxWords(cfg.max_instruction_words, "instruction_too_long"),
                                         ExactDedup("duplicate_instruction", _squash)]
    survivors = []
    for field, drop in run_filters([_Field(v, v.instruction) for v in chosen], instruction_filters):
        if drop is None:
            survivors.append(field.verdict)
        else:
            yield Dropped(drop.reason, field.verdict.to_dict(), drop.detail)
    answers = [_Field(v, strip_tests(v.response)) for v in survivors]
    for field, drop in run_filters(answers, [ExactDedup("duplicate_response", _squash)]):
        v = field.verdict
        if drop is not None:
            yield Dropped(drop.reason, v.to_dict(), drop.detail)
            continue
        yield Example(parent_id=v.id, seed_id=v.seed_id, instruction_id=v.instruction_id,
                      response_id=v.parent_id, instruction=v.instruction.strip(), response=field.text)
