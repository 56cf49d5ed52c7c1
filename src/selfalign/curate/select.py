"""Selection: which of an instruction's candidate responses becomes its example.

Candidates are what the policy allows (``curation`` decides: passing responses whose tests mean
something, any response, or failing ones). Within an instruction they are ordered by the
preference: ``random`` is a shuffle seeded by (seed, instruction id), ``shortest`` the shortest
training response, ``most_asserts`` the most assertions that run; ties go to the smaller id.
Candidates are sorted by id before anything is drawn, so the choice does not depend on the
order rows arrived in.

``choose`` takes one candidate per instruction. For the ablation policies it takes exactly
``size`` candidates -- the number of instructions the ``passing`` policy would keep -- so the
three datasets are the same size by construction: instructions are ranked by a seeded hash and
the first ``size`` give one candidate each; if fewer instructions have candidates, a second
round takes each ranked instruction's next candidate, and so on until ``size`` (or the pool
runs out, which the report counts).

The trade-off: a policy's candidates must all be known before the first choice (one summary per
candidate in memory, not the rows).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

from selfalign.curate.config import CurateConfig
from selfalign.records import Dropped, Example, Verdict


@dataclass(frozen=True)
class Candidate:
    """What the choice needs to know about a row: its position, id, and the preference keys."""

    index: int
    id: str
    length: int = 0
    asserts: int = 0


def ordered(instruction_id: str, candidates: Sequence[Candidate], prefer: str, seed: int) -> list[Candidate]:
    """The candidates of one instruction, best first under ``prefer``."""
    ranked = sorted(candidates, key=lambda c: c.id)
    if prefer == "shortest":
        return sorted(ranked, key=lambda c: c.length)
    if prefer == "most_asserts":
        return sorted(ranked, key=lambda c: (-c.asserts, c.length))
    return random.Random(f"curate/{seed}/{instruction_id}").sample(ranked, len(ranked))


def _rank(instruction_id: str, seed: int, policy: str) -> bytes:
    return hashlib.sha256(f"curate/{seed}/{policy}/{instruction_id}".encode()).digest()


def choose(groups: Mapping[str, Sequence[Candidate]], prefer: str, seed: int,
           size: int | None = None, policy: str = "passing") -> list[Candidate]:
    """One candidate per instruction (``size`` None), or exactly ``size`` candidates spread over
    the instructions in seeded order (fewer only if the pool has fewer)."""
    queues = {i: ordered(i, groups[i], prefer, seed) for i in sorted(groups) if groups[i]}
    if size is None:
        return [queues[i][0] for i in queues]
    ranked = sorted(queues, key=lambda i: _rank(i, seed, policy))
    chosen: list[Candidate] = []
    depth = 0
    while len(chosen) < size and any(len(queues[i]) > depth for i in ranked):
        for i in ranked:
            if len(queues[i]) > depth and len(chosen) < size:
                chosen.append(queues[i][depth])
        depth += 1
    return chosen


def curate(verdicts: Iterable[Verdict], cfg: CurateConfig, seed: int) -> Iterator[Example | Dropped]:
    """Examples and drops from verdicts: ``selfalign.curate.curation.curate_verdicts`` (kept
    here for the stage's import until it calls that directly)."""
    from selfalign.curate.curation import curate_verdicts

    return curate_verdicts(verdicts, cfg, seed)
