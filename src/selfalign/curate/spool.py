"""Rows waiting on disk during curation, and the exact-dedup key of a text.

Curation reads every row once and needs only a few of them again (the candidates it chooses
among, the texts of the pairs MinHash is unsure of), so rows go to a temporary file as JSON
lines and are read back by position. The trade-off: a seek and a JSON decode per re-read,
instead of every row's text held in memory.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from array import array
from typing import Any, Iterator


def squash(text: str) -> str:
    """The text with every run of whitespace made one space (the exact-dedup normalisation)."""
    return " ".join(text.split())


def text_key(text: str) -> int:
    """A 64-bit hash of the squashed text: equal keys, equal texts (up to whitespace)."""
    digest = hashlib.blake2b(squash(text).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class Spool:
    """JSON rows in a temporary file (in ``directory``, or the system's), read back by position."""

    def __init__(self, directory: str = "") -> None:
        self.file = tempfile.TemporaryFile(dir=directory or None)
        self.offsets = array("q")

    def add(self, row: dict[str, Any]) -> int:
        self.file.seek(0, 2)
        self.offsets.append(self.file.tell())
        self.file.write(json.dumps(row, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n")
        return len(self.offsets) - 1

    def get(self, index: int) -> dict[str, Any]:
        self.file.seek(self.offsets[index])
        return json.loads(self.file.readline())

    def __len__(self) -> int:
        return len(self.offsets)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.file.seek(0)
        for line in self.file:
            yield json.loads(line)

    def close(self) -> None:
        self.file.close()
