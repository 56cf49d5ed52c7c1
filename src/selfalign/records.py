"""The records that flow through the pipeline, one dataclass per stage.

Every record has a content-hash ``id`` (so the same content always gets the same id and a rerun
produces identical files), the ``parent_id`` of the record it was made from, the typed ids of the
ancestors later steps need (``seed_id`` on every record; ``instruction_id`` and ``response_id``
from the responses on), and a free ``meta`` dict for numbers such as token counts. ``lineage.py``
walks any record back to its seed. The trade-off: ids are derived from content, so
two stages that produce the same text from the same parent collapse to one id -- which is exactly
the exact-dedup we want.

Records are serialised as flat JSON objects; ``from_dict`` rejects unknown and missing fields with
a message naming them, so a hand-edited or foreign file fails loudly instead of half-loading.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

R = TypeVar("R", bound="Record")


def content_hash(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts (16 hex chars = 64 bits)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class RecordError(ValueError):
    """A row that does not match the record schema."""


@dataclass
class Record:
    """Base class: subclasses list their content fields; ``id`` is derived from them."""

    kind: ClassVar[str] = "record"
    # Fields that define identity; everything else (raw text, meta, timings) does not.
    identity: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if not getattr(self, "id", ""):
            self.id = self.compute_id()

    def compute_id(self) -> str:
        return content_hash(self.kind, getattr(self, "parent_id", None),
                            *[getattr(self, name) for name in self.identity])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[R], row: dict[str, Any]) -> R:
        if not isinstance(row, dict):
            raise RecordError(f"expected a JSON object for a {cls.kind} record, got {type(row).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(row) - names)
        if unknown:
            raise RecordError(f"unknown field(s) for a {cls.kind} record: {', '.join(unknown)}")
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [name for name in required if name not in row]
        if missing:
            raise RecordError(f"missing field(s) for a {cls.kind} record: {', '.join(missing)}")
        for f in dataclasses.fields(cls):
            if f.name in row and not _type_ok(row[f.name], f.type):
                raise RecordError(f"field {f.name!r} of a {cls.kind} record should be {f.type}, "
                                  f"got {type(row[f.name]).__name__}")
        return cls(**row)


_CHECKS = {"str": str, "int": int, "float": (int, float), "bool": bool, "dict": dict, "list": list}


def _type_ok(value: Any, annotation: Any) -> bool:
    """Check a JSON value against a field annotation written as a string (``from __future__``)."""
    text = str(annotation).replace(" ", "")
    options = text.split("|")
    if value is None:
        return "None" in options
    for option in options:
        base = option.split("[", 1)[0]
        expected = _CHECKS.get(base)
        if expected is None or (isinstance(value, expected) and not (base == "int" and isinstance(value, bool))):
            return True
    return False


@dataclass
class Seed(Record):
    """A mined function with a docstring, and where it came from."""

    kind: ClassVar[str] = "seed"
    identity: ClassVar[tuple[str, ...]] = ("content",)

    content: str
    name: str = ""
    source: str = ""          # corpus name or path
    path: str = ""            # file inside the corpus
    start_line: int = 0
    end_line: int = 0
    license: str | None = None
    parent_id: str | None = None
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def seed_id(self) -> str:
        """A seed is its own lineage root."""
        return self.id


@dataclass
class Concepts(Record):
    """S->C: the programming concepts the model saw in a seed."""

    kind: ClassVar[str] = "concepts"
    identity: ClassVar[tuple[str, ...]] = ("concepts",)

    parent_id: str            # the seed
    seed_id: str
    seed: str                 # the seed snippet, carried so the next stage needs no join
    concepts: list[str]
    raw: str = ""
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Instruction(Record):
    """C->I: a new self-contained task, and the sampled properties that shaped it."""

    kind: ClassVar[str] = "instruction"
    identity: ClassVar[tuple[str, ...]] = ("instruction",)

    parent_id: str            # the concepts record
    seed_id: str
    instruction: str
    properties: dict[str, Any] = field(default_factory=dict)
    raw: str = ""
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Response(Record):
    """I->R: one sampled answer, split into the solution code and the model's own tests."""

    kind: ClassVar[str] = "response"
    identity: ClassVar[tuple[str, ...]] = ("response", "sample")

    parent_id: str            # the instruction
    seed_id: str
    instruction: str
    response: str             # the full answer as the model wrote it (reasoning + code + tests)
    solution: str             # the code block with the implementation
    tests: str                # the code block with the asserts
    sample: int = 0           # which of the n samples of its instruction
    raw: str = ""
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict(Record):
    """Execution: the sandbox's verdict on one response, carrying what curation needs."""

    kind: ClassVar[str] = "verdict"
    identity: ClassVar[tuple[str, ...]] = ("status",)

    parent_id: str            # the response
    seed_id: str
    instruction_id: str
    instruction: str
    response: str
    solution: str
    tests: str
    status: str               # pass | fail | timeout | memory | crash | blocked
    sample: int = 0           # which of the n samples of its instruction
    exec: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass
class Example(Record):
    """Curation: one instruction/response pair ready for supervised fine-tuning."""

    kind: ClassVar[str] = "example"
    identity: ClassVar[tuple[str, ...]] = ("instruction", "response")

    parent_id: str            # the verdict
    seed_id: str
    instruction_id: str
    response_id: str
    instruction: str
    response: str
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


RECORD_TYPES: dict[str, type[Record]] = {
    cls.kind: cls for cls in (Seed, Concepts, Instruction, Response, Verdict, Example)
}


# Stage name -> the record kind its kept file ``<stage>.jsonl`` holds, in pipeline order; each
# kind's parent is the kind before it (the run directory's file layout, shared by every reader).
STAGE_KINDS = {"seeds": "seed", "concepts": "concepts", "instructions": "instruction",
               "responses": "response", "execute": "verdict", "curate": "example"}


@dataclass
class Dropped:
    """What a stage yields for an item it does not keep: the reason is a short stable key
    (``truncated``, ``no_tests``, ``filter:banned_import``) counted in the funnel, and ``record``
    is the dropped record's dict (or a description such as a path when there is no record)."""

    reason: str
    record: dict[str, Any]
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "detail": self.detail, "record": self.record}
