"""The published dataset: a folder that ``datasets.load_dataset(folder)`` reads.

``write_dataset(out_dir, items, report, info)`` streams curation's output into
``data.jsonl`` and ``data.parquet`` (one row per example: ``messages`` in chat form, ``prompt`` /
``completion`` in the instruct template, the instruction and response, the lineage ids back to
the seed and the seed's source, path and license), ``dropped.jsonl`` (every dropped row with its
reason and detail) and ``README.md``, the dataset card (``card.py``), whose YAML header points
``load_dataset`` at the Parquet file. Every file is written under a temporary name and renamed
into place, so a folder never holds half a dataset.

The trade-off: rows are written as they come (Parquet in batches), so memory stays flat, and the
card is written last from the report and the counts gathered on the way.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from selfalign.curate.card import CardInfo, render_card
from selfalign.curate.report import CurationReport
from selfalign.records import Dropped, Example
from selfalign.template import SYSTEM, render_prompt

DATA_JSONL, DATA_PARQUET, DROPPED, CARD = "data.jsonl", "data.parquet", "dropped.jsonl", "README.md"
PARQUET_BATCH = 1000
STRING_COLUMNS = ("id", "prompt", "completion", "instruction", "response", "seed_id", "instruction_id",
                  "response_id", "verdict_id", "seed_source", "seed_path", "seed_license", "function")
INT_COLUMNS = ("asserts", "asserts_appended")


@dataclass
class DatasetSummary:
    examples: int = 0
    dropped: Counter = field(default_factory=Counter)
    seed_sources: Counter = field(default_factory=Counter)    # (source, license) -> examples
    files: dict[str, str] = field(default_factory=dict)


def dataset_row(example: Example, system_message: bool = True) -> dict[str, Any]:
    """One dataset row from an example (its ``meta`` carries the seed's source and license)."""
    meta = example.meta
    messages = [{"role": "system", "content": SYSTEM}] if system_message else []
    messages += [{"role": "user", "content": example.instruction},
                 {"role": "assistant", "content": example.response}]
    return {"id": example.id, "messages": messages, "prompt": render_prompt(example.instruction),
            "completion": example.response, "instruction": example.instruction, "response": example.response,
            "seed_id": example.seed_id, "instruction_id": example.instruction_id,
            "response_id": example.response_id, "verdict_id": example.parent_id,
            "seed_source": meta.get("seed_source"), "seed_path": meta.get("seed_path"),
            "seed_license": meta.get("seed_license"), "function": meta.get("function", ""),
            "asserts": int(meta.get("asserts", 0)), "asserts_appended": int(meta.get("asserts_appended", 0))}


def _schema():
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    fields = [pa.field("id", pa.string()), pa.field("messages", pa.list_(message))]
    fields += [pa.field(name, pa.string()) for name in STRING_COLUMNS[1:]]
    fields += [pa.field(name, pa.int64()) for name in INT_COLUMNS]
    return pa.schema(fields)


class _ParquetRows:
    """Rows appended in batches to a Parquet file under a temporary name."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.path, self.tmp = path, path.with_name(f".{path.name}.tmp")
        self.schema = _schema()
        self.writer = pq.ParquetWriter(self.tmp, self.schema)
        self.batch: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self.batch.append(row)
        if len(self.batch) >= PARQUET_BATCH:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if self.batch:
            self.writer.write_table(pa.Table.from_pylist(self.batch, schema=self.schema))
            self.batch = []

    def commit(self) -> None:
        self.flush()
        self.writer.close()
        os.replace(self.tmp, self.path)


class _Lines:
    def __init__(self, path: Path) -> None:
        self.path, self.tmp = path, path.with_name(f".{path.name}.tmp")
        self.fh = open(self.tmp, "w", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        self.fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    def commit(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.path)


def write_dataset(out_dir: str | Path, items: Iterable[Example | Dropped], report: CurationReport,
                  info: CardInfo | None = None, system_message: bool = True) -> DatasetSummary:
    """Write the dataset folder from curation's output; the card comes last, from ``report``
    (filled in while ``items`` is consumed) and ``info`` (model, settings, upstream funnel)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = DatasetSummary()
    jsonl, parquet, dropped = _Lines(out / DATA_JSONL), _ParquetRows(out / DATA_PARQUET), _Lines(out / DROPPED)
    for item in items:
        if isinstance(item, Dropped):
            dropped.write(item.to_dict())
            summary.dropped[item.reason] += 1
            continue
        row = dataset_row(item, system_message)
        jsonl.write(row)
        parquet.write(row)
        summary.examples += 1
        summary.seed_sources[(row["seed_source"] or "unknown", row["seed_license"] or "unknown")] += 1
    for part in (jsonl, parquet, dropped):
        part.commit()
    card = render_card(report, info or CardInfo(), summary.examples, summary.seed_sources)
    tmp = out / f".{CARD}.tmp"
    tmp.write_text(card, encoding="utf-8")
    os.replace(tmp, out / CARD)
    summary.files = {"data": DATA_JSONL, "parquet": DATA_PARQUET, "dropped": DROPPED, "card": CARD}
    return summary
