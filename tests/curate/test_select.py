"""Curation on literal verdicts: one per instruction, word cap, exact dedup, tests stripped."""

from __future__ import annotations

from selfalign.curate.config import CurateConfig
from selfalign.curate.select import curate
from selfalign.records import Dropped, Example, Verdict


def verdict(instruction_id: str, instruction: str, answer: str, sample: int = 0) -> Verdict:
    response = f"{answer}\n\nTests:\n```python\nassert f(1) == 1\n```"
    return Verdict(parent_id=f"r-{instruction_id}-{sample}", seed_id="s1", instruction_id=instruction_id,
                   instruction=instruction, response=response, solution="def f(x): return x",
                   tests="assert f(1) == 1", status="pass", sample=sample)


def test_rules_and_lineage():
    rows = [verdict("i1", "Write f that returns x.", "Return x.", 0),
            verdict("i1", "Write f that returns x.", "Just return x.", 1),
            verdict("i2", "Write   f that\nreturns x.", "Another answer."),       # same instruction, spaced
            verdict("i3", "Write g that returns y.", "Return   x."),            # same answer as one above?
            verdict("i4", "word " * 201, "Long.")]
    out = list(curate(rows, CurateConfig(), seed=0))
    reasons = sorted(o.reason for o in out if isinstance(o, Dropped))
    examples = [o for o in out if isinstance(o, Example)]
    assert "not_selected" in reasons and "instruction_too_long" in reasons
    assert "duplicate_instruction" in reasons
    assert len(out) == len(rows)                     # every row is kept or dropped, once
    for ex in examples:
        assert "assert" not in ex.response and ex.seed_id == "s1"
        source = next(r for r in rows if r.id == ex.parent_id)
        assert ex.response_id == source.parent_id and ex.instruction_id == source.instruction_id
    # i3's answer equals i1's only when i1 drew "Return x." (whitespace-normalised)
    chosen_i1 = next(e for e in examples if e.instruction_id == "i1")
    assert ("duplicate_response" in reasons) == (chosen_i1.response == "Return x.")


def test_choice_is_seeded_and_independent_of_order():
    rows = [verdict("i1", "Write f that returns x.", f"Answer {k}.", k) for k in range(5)]
    pick = [e.response for e in curate(rows, CurateConfig(), 7) if isinstance(e, Example)]
    again = [e.response for e in curate(rows[::-1], CurateConfig(), 7) if isinstance(e, Example)]
    assert pick == again and len(pick) == 1
