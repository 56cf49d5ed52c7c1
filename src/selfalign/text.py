"""Wording shared by the messages users read: a count with its noun, "1 row" / "2 rows".

The trade-off: English plurals by an added "s" only; a noun that is irregular passes its plural.
"""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, plural unless the count is exactly one: ``plural(1, "row")``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
