"""The one writer of a stage's output: a part file per finished chunk, then an ordered merge.

A chunk's outputs (kept and dropped) go to ``.parts/<stage>/<chunk>.jsonl`` through a temporary
file and a rename, so a part either exists whole or not at all, and an existing part is a
finished chunk. Parts are kept only while they were cut the same way (chunk size) under the same
config hash. The merge reads parts in chunk order, whatever order they finished in, and writes
``<stage>.jsonl`` and ``<stage>.dropped.jsonl``: the files do not depend on the executor.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from selfalign.executor.base import ChunkTask, Outcome
from selfalign.records import Dropped
from selfalign.store import AtomicJsonl, atomic_write_text, header, iter_jsonl


class StageParts:
    def __init__(self, run_dir: Path, stage: str, chunk_size: int, config_hash: str) -> None:
        self.run_dir, self.stage = run_dir, stage
        self.dir = run_dir / ".parts" / stage
        want = {"chunk_size": chunk_size, "config_hash": config_hash}
        if self.dir.exists() and _read_json(self.dir / "meta.json") != want:
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.dir / "meta.json", json.dumps(want))

    def path(self, index: int) -> Path:
        return self.dir / f"{index:06d}.jsonl"

    def done(self, index: int) -> bool:
        return self.path(index).exists()

    def commit(self, task: ChunkTask, outcomes: list[Outcome]) -> None:
        with AtomicJsonl(self.path(task.index)) as writer:
            for outcome in outcomes:
                writer.write(_part_row(outcome))

    def merge(self, kind: str) -> dict[str, Any]:
        """Write the stage's kept and dropped files from the parts; return the counts."""
        counts: dict[str, Any] = {"kept": 0, "dropped": {}}
        kept_ids: set[str] = set()
        with AtomicJsonl(self.run_dir / f"{self.stage}.jsonl", header(kind)) as kept, \
                AtomicJsonl(self.run_dir / f"{self.stage}.dropped.jsonl", header(f"{kind}.dropped")) as dropped:
            for part in sorted(self.dir.glob("[0-9]*.jsonl")):
                for _, row in iter_jsonl(part):
                    if "kept" in row:
                        if row["kept"]["id"] not in kept_ids:
                            kept_ids.add(row["kept"]["id"])
                            kept.write(row["kept"])
                            continue
                        # the same content from two parents: keep one
                        row = {"dropped": {"reason": "duplicate_id", "detail": "", "record": row["kept"]}}
                    reason = row["dropped"]["reason"]
                    counts["dropped"][reason] = counts["dropped"].get(reason, 0) + 1
                    dropped.write(row["dropped"])
        counts["kept"] = kept.count
        counts["out"] = kept.count + dropped.count
        return counts

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _part_row(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, Dropped):
        return {"dropped": outcome.to_dict()}
    return {"kept": outcome.to_dict()}
