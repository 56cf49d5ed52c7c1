"""Walk any record of a run back to its seed: seed -> concepts -> instruction -> response ->
verdict -> example, through the typed ``parent_id`` of each record.

Records are looked up in each stage's kept *and* dropped files, so the lineage of a dropped
record (a failing response, a truncated instruction) is as easy to see as that of an SFT row.
The trade-off: every call reads the stage files it needs from disk (one index per stage, built
lazily and kept by the ``Lineage`` object), which is fine for inspecting a run and for reports;
a job that traces every row of a large run should build one ``Lineage`` and reuse it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfalign.records import RECORD_TYPES, STAGE_KINDS, Record
from selfalign.store import iter_jsonl

_STAGE_OF_KIND = {kind: stage for stage, kind in STAGE_KINDS.items()}
_KINDS = list(STAGE_KINDS.values())


class LineageError(LookupError):
    """A record (or one of its ancestors) that is not in the run directory."""


class Lineage:
    """Indexes a run directory's stage files by record id, one stage at a time, on demand."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self._index: dict[str, dict[str, Record]] = {}

    def record(self, kind: str, record_id: str) -> Record:
        found = self._stage_index(kind).get(record_id)
        if found is None:
            raise LineageError(f"no {kind} record {record_id} in {self.run_dir}")
        return found

    def trace(self, record: Record) -> list[Record]:
        """The record's ancestors from its seed down to the record itself."""
        chain = [record]
        position = _KINDS.index(record.kind)
        while position > 0:
            position -= 1
            chain.append(self.record(_KINDS[position], str(chain[-1].parent_id)))
        return chain[::-1]

    def find(self, record_id: str) -> Record:
        """The record with this id, from whichever stage holds it (later stages first)."""
        for kind in reversed(_KINDS):
            hit = self._stage_index(kind).get(record_id)
            if hit is not None:
                return hit
        raise LineageError(f"no record {record_id} in {self.run_dir}")

    def _stage_index(self, kind: str) -> dict[str, Record]:
        if kind not in self._index:
            stage, cls = _STAGE_OF_KIND[kind], RECORD_TYPES[kind]
            index: dict[str, Record] = {}
            for name in (f"{stage}.jsonl", f"{stage}.dropped.jsonl"):
                for row in _rows(self.run_dir / name):
                    record = _as_record(row, cls)
                    if record is not None:
                        index.setdefault(record.id, record)
            self._index[kind] = index
        return self._index[kind]


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [row for _, row in iter_jsonl(path) if isinstance(row, dict) and "format" not in row]


def _as_record(row: dict[str, Any], cls: type[Record]) -> Record | None:
    """A kept row is a record; a dropped row holds one under ``record`` when it got that far
    (a truncated output is dropped before it became a record, and has no id)."""
    data = row.get("record", row) if "reason" in row else row
    try:
        return cls.from_dict(data)
    except (ValueError, TypeError):
        return None


def trace(run_dir: str | Path, record_id: str) -> list[Record]:
    """The lineage of one record id of a run, seed first."""
    lineage = Lineage(run_dir)
    return lineage.trace(lineage.find(record_id))
