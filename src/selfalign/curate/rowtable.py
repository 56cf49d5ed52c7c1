"""What curation remembers of each spooled row, its drop bookkeeping, and who is a candidate.

The rows themselves wait in a ``Spool`` on disk; ``RowTable`` holds, by spool position, the few
numbers and short strings the passes decide on (id, instruction position, exec status, the tests
check's reason, stub status, training-response length, assert count, whether sandbox runs are
due, exec fields the runs replaced) and each row's drop reason once it has one. After the runs,
``settle`` sorts the rows into candidates of the policy and real passes from these columns alone.

Apart from ``curation`` because this is the state every pass shares, while ``curation`` is the
order of the passes and what each of them decides: a pass asks the table whether a row is still
alive and records its drop there, and the emit pass reads the reasons back. The trade-off is
``curation``'s: flat ``array``/``bytearray`` columns instead of an object per row, so 100,000
rows cost a few MB.
"""

from __future__ import annotations

from array import array
from typing import Any

from selfalign.curate.tests_strength import PASS_STUB


class RowTable:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.instruction = array("i")
        self.status: list[str] = []
        self.static: list[str | None] = []      # the tests check's reason, if any
        self.stub: list[str | None] = []
        self.length = array("i")
        self.asserts = array("i")
        self.needs_runs = bytearray()
        self.reason: list[str | None] = []
        self.detail: dict[int, str] = {}
        self.exec_updates: dict[int, dict[str, Any]] = {}
        self.candidate = bytearray()
        self.passing = bytearray()

    def add(self, ident: str, position: int, status: str, static: str | None, stub: str | None,
            length: int, asserts: int, needs_runs: bool) -> None:
        """One more spooled row, alive."""
        self.ids.append(ident)
        self.instruction.append(position)
        self.status.append(status)
        self.static.append(static)
        self.stub.append(stub)
        self.length.append(length)
        self.asserts.append(asserts)
        self.needs_runs.append(needs_runs)
        self.reason.append(None)

    def __len__(self) -> int:
        return len(self.ids)

    def drop(self, s: int, reason: str, detail: str = "") -> None:
        self.reason[s] = reason
        if detail:
            self.detail[s] = detail

    def alive(self, s: int) -> bool:
        return self.reason[s] is None

    def pass_reason(self, s: int, stub_check: bool) -> tuple[str, str] | None:
        """Why the row is not a real pass (reason, detail), or None."""
        if self.status[s] != "pass":
            error = (self.exec_updates.get(s) or {}).get("error_type") or ""
            return f"exec:{self.status[s]}", error
        if self.static[s]:
            return self.static[s], ""
        if stub_check and self.stub[s] == "pass":
            return PASS_STUB, "the tests also pass when every function of the solution returns None"
        return None

    def settle(self, policy: str, stub_check: bool) -> None:
        """Each row: a candidate of the policy, passing-eligible (the ablation's size), both, or
        neither -- dropped then."""
        self.candidate = bytearray(len(self))
        self.passing = bytearray(len(self))
        for s in range(len(self)):
            why = self.pass_reason(s, stub_check)
            self.passing[s] = why is None
            self.candidate[s] = {"passing": why is None, "random": True,
                                 "failing": self.status[s] != "pass"}[policy]
            if self.candidate[s] or self.passing[s]:
                continue
            if policy == "passing":
                self.drop(s, *why)
            else:
                self.drop(s, "not_eligible", f"{why[0]}: not a real pass; policy {policy} takes failing responses")
