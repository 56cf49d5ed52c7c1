"""The row curation reads: the ``selfalign curate`` input format, and the same from a Verdict.

A row is a flat dict: ``id``, ``instruction``, ``response`` (the whole answer as the model wrote
it), ``code`` (the solution), ``tests``, ``exec`` (the sandbox verdict object, at least a
``status``) and the optional ``instruction_id`` (default: a hash of the instruction, so the
answers to one instruction group together), ``seed_id``, ``response_id`` and the seed's
``seed_source`` / ``seed_path`` / ``seed_license``. ``check_row`` returns the row normalised or
raises ``RowError`` with a message naming the field, so a malformed line is reported with its
number instead of being lost. Trade-off: dicts rather than a record class, because the command
reads foreign JSONL and the stage reads Verdicts, and both must meet in one format.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from selfalign.records import Seed, Verdict, content_hash
from selfalign.sandbox.verdict import STATUSES
from selfalign.seeds.config import portable_source

TEXT_FIELDS = ("instruction", "response", "code", "tests")
OPTIONAL_TEXT = ("instruction_id", "seed_id", "response_id", "seed_source", "seed_path", "seed_license")


class RowError(ValueError):
    """A row that cannot be curated; the message names the field. ``text``: the raw line, for
    a row that is not even JSON."""

    def __init__(self, message: str, text: str | None = None) -> None:
        super().__init__(message)
        self.text = text


def instruction_key(instruction: str) -> str:
    return content_hash("instruction", instruction.strip())


def check_row(row: Any) -> dict[str, Any]:
    """The row with ``id`` as a string and ``instruction_id`` filled in; RowError if malformed."""
    if not isinstance(row, dict):
        raise RowError(f"expected a JSON object, got {type(row).__name__}")
    ident = row.get("id")
    if isinstance(ident, bool) or not isinstance(ident, (str, int)) or ident == "":
        raise RowError("field 'id' is missing or not a string/number")
    for name in TEXT_FIELDS:
        if not isinstance(row.get(name), str):
            raise RowError(f"field {name!r} is missing or not a string")
    verdict = row.get("exec")
    if not isinstance(verdict, dict) or verdict.get("status") not in STATUSES:
        raise RowError(f"field 'exec' must be a verdict object whose status is one of {', '.join(STATUSES)}")
    for name in OPTIONAL_TEXT:
        if row.get(name) is not None and not isinstance(row[name], str):
            raise RowError(f"field {name!r} must be a string")
    if not row["instruction"].strip():
        raise RowError("field 'instruction' is empty")
    instruction_id = row.get("instruction_id") or instruction_key(row["instruction"])
    return {**row, "id": str(ident), "instruction_id": instruction_id}


def row_from_verdict(verdict: Verdict, seed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A pipeline verdict as a curation row; ``seed`` (source, path, license) when known."""
    seed = seed or {}
    return {"id": verdict.id, "instruction_id": verdict.instruction_id, "instruction": verdict.instruction,
            "response": verdict.response, "code": verdict.solution, "tests": verdict.tests,
            "exec": {**verdict.exec, "status": verdict.status}, "seed_id": verdict.seed_id,
            "response_id": verdict.parent_id, "seed_source": seed.get("source"),
            "seed_path": seed.get("path"), "seed_license": seed.get("license")}


def status(row: Mapping[str, Any]) -> str:
    return row["exec"]["status"]


def seed_lineage(seeds: Iterable[Seed]) -> dict[str, dict[str, Any]]:
    """Seed id -> its source, path (with lines) and license, for the dataset's lineage fields."""
    out = {}
    for seed in seeds:
        where = f"{seed.path}:{seed.start_line}-{seed.end_line}" if seed.path and seed.end_line else seed.path
        source = portable_source(seed.source) if seed.source else None
        out[seed.id] = {"source": source, "path": where or None, "license": seed.license}
    return out
