"""SQLite cache of verdicts keyed by the content hash of (code, tests, limits, isolation).

Trade-off: writes are batched (one transaction per `flush_every` verdicts, and at close), so a
crash can lose the last batch; that costs re-running at most that many programs, and saves a
disk sync per program. WAL mode lets an evaluation and an execute stage share one file.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from selfalign.sandbox.verdict import ExecResult


class VerdictCache:
    def __init__(self, path: str | os.PathLike, flush_every: int = 256):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
        self.pending: dict[str, str] = {}
        self.flush_every = flush_every

    def get(self, key: str) -> ExecResult | None:
        text = self.pending.get(key)
        if text is None:
            row = self.db.execute("SELECT result FROM verdicts WHERE key = ?", (key,)).fetchone()
            text = row[0] if row else None
        return ExecResult.from_dict(json.loads(text), cached=True) if text else None

    def put(self, key: str, result: ExecResult) -> None:
        self.pending[key] = json.dumps(result.to_dict())
        if len(self.pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?)", self.pending.items())
            self.pending.clear()

    def close(self) -> None:
        self.flush()
        self.db.close()
