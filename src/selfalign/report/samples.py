"""The sample browser's data: every row of every stage file (kept and dropped) as one flat table
with a link to its parent row, and the embedded form the report's page reads.

A row's parent is found the way ``lineage.Lineage`` walks records (``STAGE_KINDS`` order, the
typed ``parent_id``), but by row number, so the page can walk a lineage without a lookup table
and dropped rows without an id (a seed file that did not parse) still appear. Two layers keep a
100,000-verdict run usable in a browser: a small columnar *index* (stage, status, reason,
category, a one-line title) that the page filters and paginates, and the full *details* cut into
chunks of ``CHUNK`` rows, each gzip'd and base64'd on its own, so opening one lineage inflates a
few chunks rather than the whole run. The trade-off: text the page can already show through a
row's ancestors is left out of its details (a verdict carries its response's code, a concepts
record its seed), and each text field is cut at ``MAX_TEXT`` characters.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from selfalign.records import STAGE_KINDS
from selfalign.store import is_header, iter_jsonl

CHUNK = 500
MAX_TEXT = 20_000
TITLE = 110
_KEYS = ("status", "reason", "category", "difficulty")


@dataclass
class SampleRow:
    stage: str
    kept: bool
    id: str
    parent: int                      # row number of the parent, -1 for none
    status: str                      # a verdict's status; "kept" or "dropped" elsewhere
    reason: str                      # the drop reason, "" when kept
    title: str
    detail: dict[str, Any]
    category: str = ""
    difficulty: str = ""


@dataclass
class Samples:
    rows: list[SampleRow] = field(default_factory=list)
    sft: dict[str, dict[str, Any]] = field(default_factory=dict)


def collect_samples(run_dir: str | Path) -> Samples:
    """Every stage file's rows in pipeline order (kept, then dropped), linked to their parents."""
    run = Path(run_dir)
    out = Samples(sft=_sft_rows(run / "sft.jsonl"))
    where: dict[tuple[str, str], int] = {}        # (stage, record id) -> row number
    previous = None
    for stage in STAGE_KINDS:
        for kept, record, reason, detail in _stage_rows(run, stage):
            own_id, parent_id = _ids(stage, kept, record)
            parent = where.get((previous, parent_id), -1) if previous and parent_id else -1
            row = SampleRow(stage, kept, own_id, parent, "kept" if kept else "dropped", reason, "",
                            _detail(stage, record, detail, has_parent=parent >= 0))
            _inherit(row, out.rows[parent] if parent >= 0 else None, record)
            row.title = _title(stage, record, row, reason, detail)
            if stage == "curate" and kept:
                row.detail["sft"] = out.sft.get(own_id) or _pick(record, "instruction", "response")
            if own_id and (stage, own_id) not in where:   # kept rows come first and win
                where[(stage, own_id)] = len(out.rows)
            out.rows.append(row)
        previous = stage
    return out


def _stage_rows(run: Path, stage: str) -> Iterator[tuple[bool, dict[str, Any], str, str]]:
    for kept, name in ((True, f"{stage}.jsonl"), (False, f"{stage}.dropped.jsonl")):
        path = run / name
        if not path.exists():
            continue
        for _, row in iter_jsonl(path):
            if not isinstance(row, dict) or is_header(row):
                continue
            if kept:
                yield True, row, "", ""
            else:
                record = row.get("record") if isinstance(row.get("record"), dict) else {}
                yield False, record, str(row.get("reason", "")), str(row.get("detail", ""))


def _ids(stage: str, kept: bool, record: dict[str, Any]) -> tuple[str, str]:
    """(own id, parent id). A row curation dropped is the verdict it judged: its ``id`` is the
    verdict's, so that verdict is its parent and it has no id of its own."""
    if stage == "curate" and not kept:
        return "", str(record.get("id") or "")
    return str(record.get("id") or ""), str(record.get("parent_id") or "")


def _inherit(row: SampleRow, parent: SampleRow | None, record: dict[str, Any]) -> None:
    """An instruction's category and difficulty, carried down to its responses and verdicts so
    a filter by category finds them; a verdict's status, to the curation rows that judged it."""
    props = record.get("properties") if isinstance(record.get("properties"), dict) else {}
    row.category = str(props.get("category", "") or (parent.category if parent else ""))
    row.difficulty = str(props.get("difficulty", "") or (parent.difficulty if parent else ""))
    if row.stage == "execute":
        row.status = str(record.get("status") or row.status)


def _cut(text: Any) -> Any:
    if isinstance(text, str) and len(text) > MAX_TEXT:
        return text[:MAX_TEXT] + f"\n[... {len(text) - MAX_TEXT} more characters not in the report]"
    return text


def _pick(record: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: _cut(record[name]) for name in names if record.get(name) not in (None, "", [], {})}


EXEC_FIELDS = ("status", "exit_code", "wall_s", "cpu_s", "peak_mb", "error_type", "error",
               "stdout_tail", "stderr_tail", "isolation", "tests_collected", "stub")


def _detail(stage: str, record: dict[str, Any], reason_detail: str, has_parent: bool) -> dict[str, Any]:
    """What the lineage view shows of one row; text its parent row already shows is left out."""
    if stage == "seeds":
        out = _pick(record, "name", "path", "source", "start_line", "end_line", "license", "content")
    elif stage == "concepts":
        out = _pick(record, "concepts") or _pick(record, "raw")
    elif stage == "instructions":
        out = _pick(record, "instruction", "properties") or _pick(record, "raw")
    elif stage == "responses":
        # the code and tests blocks are shown apart only when the answer does not hold them verbatim
        answer = str(record.get("response") or "")
        out = _pick(record, "sample", "response", *(f for f in ("solution", "tests")
                                                    if str(record.get(f) or "") not in answer))
        if not answer:
            out |= _pick(record, "raw")
    elif stage == "execute":
        out = _pick(record, "sample") | {"exec": {k: _cut(v) for k, v in (record.get("exec") or {}).items()
                                                  if k in EXEC_FIELDS}}
        if not has_parent:
            out |= _pick(record, "instruction", "solution", "tests")
    elif record.get("parent_id"):   # an example: the SFT row (added by the caller) shows its text
        out = _pick(record, "meta")
    else:                           # a verdict curation dropped: the reason says it all
        out = {}
    if reason_detail:
        out["detail"] = _cut(reason_detail)
    return out


def _title(stage: str, record: dict[str, Any], row: SampleRow, reason: str, detail: str) -> str:
    """One line for the table, and the text search looks in."""
    if stage == "seeds":
        text = f"{record.get('name', '')} ({record.get('path', '')})"
    elif stage == "concepts":
        text = ", ".join(record.get("concepts") or []) or str(record.get("raw", ""))
    elif stage in ("instructions", "responses", "execute", "curate"):
        text = str(record.get("instruction") or record.get("raw") or "")
        error = (record.get("exec") or {}).get("error_type") if stage == "execute" and not reason else ""
        text = f"{error}: {text}" if error else text
    else:
        text = ""
    if reason:
        text = f"[{reason}{': ' + detail if detail else ''}] {text}"
    text = " ".join(text.split())
    return text if len(text) <= TITLE else text[:TITLE - 1] + "…"


def _sft_rows(path: Path) -> dict[str, dict[str, Any]]:
    """sft.jsonl (plain JSONL, no header) by example id."""
    if not path.exists():
        return {}
    return {str(row["id"]): {k: _cut(v) for k, v in row.items() if k != "id"}
            for _, row in iter_jsonl(path) if isinstance(row, dict) and "id" in row}


def pack(value: Any) -> str:
    """JSON, gzip'd and base64'd: what the page inflates with ``DecompressionStream``."""
    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")


def embedded(samples: Samples) -> dict[str, Any]:
    """The page's data: one packed columnar index and the packed detail chunks."""
    rows = samples.rows
    stages = list(STAGE_KINDS)
    values = {key: sorted({getattr(r, key) for r in rows}) for key in _KEYS}
    codes = {key: {v: i for i, v in enumerate(vals)} for key, vals in values.items()}
    index = {"chunk": CHUNK, "stages": stages, "values": values,
             "stage": [stages.index(r.stage) for r in rows], "kept": [int(r.kept) for r in rows],
             "parent": [r.parent for r in rows], "id": [r.id for r in rows],
             "title": [r.title for r in rows],
             **{key: [codes[key][getattr(r, key)] for r in rows] for key in _KEYS}}
    chunks = [pack([r.detail for r in rows[start:start + CHUNK]]) for start in range(0, len(rows), CHUNK)]
    return {"index": pack(index), "chunks": chunks, "rows": len(rows)}
