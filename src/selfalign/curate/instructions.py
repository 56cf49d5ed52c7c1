"""The instructions curation has seen: ids, their state (a drop reason or None), exact-dedup
keys and MinHash signatures, with the texts on disk.

Answers share an instruction, so instruction-level rules (word cap, decontamination, exact and
near dedup) run once per instruction, and a dropped instruction takes all its answers with it.
``dedup`` runs over the instructions that still have answers, in id order (so the result does
not depend on input order), keeping the first of each exact or near-duplicate group. The
trade-off: one signature (``num_perm`` uint32) per distinct instruction stays in memory.
"""

from __future__ import annotations

from array import array

import numpy as np

from selfalign.curate.neardup import SignatureStore, keep_first, near_pairs
from selfalign.curate.spool import Spool, text_key
from selfalign.quality.minhash import LOCAL, MinHashParams, Sketcher

SIG_CHUNK = 2000


class InstructionTable:
    def __init__(self, params: MinHashParams, spool_dir: str = "", signatures: bool = True,
                 sketcher: Sketcher = LOCAL) -> None:
        self.ids: list[str] = []
        self.position: dict[str, int] = {}
        self.state: list[str | None] = []
        self.detail: dict[int, str] = {}
        self.keys = array("Q")
        self.store = SignatureStore(params, sketcher)
        self.signatures = signatures
        self.texts = Spool(spool_dir)
        self._pending: list[str] = []

    def add(self, ident: str, text: str) -> tuple[int, bool]:
        """(position, whether it is new)."""
        if ident in self.position:
            return self.position[ident], False
        position = self.position[ident] = len(self.ids)
        self.ids.append(ident)
        self.keys.append(text_key(text))
        self.texts.add({"text": text})
        self.state.append(None)
        if self.signatures:
            self._pending.append(text)
            if len(self._pending) >= SIG_CHUNK:
                self.flush()
        return position, True

    def flush(self) -> None:
        self.store.add(self._pending)
        self._pending = []

    def drop(self, position: int, reason: str, detail: str) -> None:
        self.state[position] = reason
        self.detail[position] = detail

    def text(self, position: int) -> str:
        return self.texts.get(position)["text"]

    def dedup(self, live: list[int], exact: bool, near: bool) -> None:
        """Drop exact, then near duplicates among ``live`` positions (sorted here by id)."""
        live = sorted(live, key=lambda p: self.ids[p])
        if exact:
            first: dict[int, int] = {}
            for p in live:
                original = first.setdefault(self.keys[p], p)
                if original != p:
                    self.drop(p, "duplicate_instruction", f"same as instruction {self.ids[original]}")
            live = [p for p in live if not self.state[p]]
        if near and len(live) > 1:
            self.flush()
            members = np.array(live, dtype=np.int64)
            pairs = near_pairs(self.store, members, lambda idx: [self.text(i) for i in idx])
            for position, original in enumerate(keep_first(len(members), pairs)):
                if original >= 0:
                    self.drop(live[position], "near_duplicate_instruction",
                              f"same as instruction {self.ids[live[original]]}")

    def close(self) -> None:
        self.texts.close()
