"""What a curation did, for the funnel and the dataset card: counts per step and reason, the
policy's target size, the stub runs, and every decontamination hit with its benchmark item.

Every drop reason is a stable key listed in ``REASONS`` with the curation step it belongs to, so
the card can group them and a new reason cannot appear without a home. Trade-off: the report
keeps one small entry per decontamination hit (they are few) and only counts for the rest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

# reason -> curation step, in funnel order
REASONS = {
    "malformed": "input",
    "exec:fail": "execution", "exec:timeout": "execution", "exec:memory": "execution",
    "exec:crash": "execution", "exec:blocked": "execution",
    "tests:syntax_error": "tests", "tests:redefines_solution": "tests",
    "tests:no_running_assert": "tests", "tests:no_call": "tests", "tests:pass_stub": "tests",
    "not_eligible": "policy",
    "instruction_too_long": "sanitize", "placeholder": "sanitize",
    "decontam:exact": "decontaminate", "decontam:ngram": "decontaminate",
    "decontam:function": "decontaminate",
    "duplicate_instruction": "dedup", "near_duplicate_instruction": "dedup",
    "not_selected": "select",
    "duplicate_response": "dedup", "near_duplicate_code": "dedup", "near_duplicate_response": "dedup",
}
STEPS = ("input", "execution", "tests", "policy", "sanitize", "decontaminate", "dedup", "select")


@dataclass
class DecontamHit:
    row_id: str
    field: str          # instruction | response
    reason: str
    benchmark_id: str
    overlap: float


@dataclass
class CurationReport:
    policy: str = "passing"
    prefer: str = "random"
    rows_in: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    instructions: int = 0              # distinct instruction ids seen
    target_size: int | None = None     # the ablation's size: instructions passing would keep
    shortfall: int = 0                 # target rows the ablation's pool could not supply
    reruns: int = 0                    # verdicts redone with collected tests
    stub_runs: int = 0
    stub_passed: int = 0
    stub_unchecked: int = 0            # passes with no stub verdict and no sandbox to get one
    augmented: int = 0
    tests_kept: int = 0                # answers whose tests stay (the instruction asks for them)
    decontam_hits: list[DecontamHit] = field(default_factory=list)
    benchmarks: dict[str, Any] = field(default_factory=dict)   # indexed texts, skipped benchmarks

    def drop(self, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown curation drop reason {reason!r}")
        self.dropped[reason] += 1

    def by_step(self) -> dict[str, dict[str, int]]:
        steps: dict[str, dict[str, int]] = {}
        for reason in REASONS:
            if self.dropped.get(reason):
                steps.setdefault(REASONS[reason], {})[reason] = self.dropped[reason]
        return {step: steps[step] for step in STEPS if step in steps}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dropped"] = dict(self.dropped)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CurationReport":
        hits = [DecontamHit(**hit) for hit in data.get("decontam_hits", [])]
        return cls(**{**data, "dropped": Counter(data.get("dropped", {})), "decontam_hits": hits})
