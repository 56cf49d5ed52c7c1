"""The cheap per-function seed filters of PIPELINE.md, each with a stable drop reason.

Each filter is a small function ``(candidate, cfg) -> detail or None``; ``apply_filters`` runs
them in a fixed order and returns the first failure, so every drop is counted once under one
reason. Banned words are matched as case-insensitive substrings, as in the original recipe:
that also drops ``debug`` (for ``bug``), a deliberate loss of recall for simplicity.
"""

from __future__ import annotations

from typing import Callable

from .config import SeedsConfig
from .extract import Candidate


def no_args(c: Candidate, cfg: SeedsConfig) -> str | None:
    return f"{c.n_args} argument(s)" if c.n_args < cfg.min_args else None


def no_return(c: Candidate, cfg: SeedsConfig) -> str | None:
    return "no `return <value>`" if cfg.require_return and not c.valued_return else None


def too_long(c: Candidate, cfg: SeedsConfig) -> str | None:
    lines = c.end_line - c.start_line + 1
    return f"{lines} lines > {cfg.max_lines}" if lines > cfg.max_lines else None


def banned_word(c: Candidate, cfg: SeedsConfig) -> str | None:
    lowered = c.content.lower()
    hit = next((w for w in cfg.banned_words if w.lower() in lowered), None)
    return f"contains {hit!r}" if hit else None


def banned_import(c: Candidate, cfg: SeedsConfig) -> str | None:
    banned = set(cfg.banned_imports)
    hit = next((m for m in c.imports if m in banned), None)
    return f"imports {hit}" if hit else None


FILTERS: list[tuple[str, Callable[[Candidate, SeedsConfig], str | None]]] = [
    ("filter:no_args", no_args),
    ("filter:no_return", no_return),
    ("filter:too_long", too_long),
    ("filter:banned_import", banned_import),
    ("filter:banned_word", banned_word),
]


def apply_filters(c: Candidate, cfg: SeedsConfig) -> tuple[str, str] | None:
    """(reason, detail) of the first filter that rejects the candidate, or None to keep it."""
    for reason, check in FILTERS:
        detail = check(c, cfg)
        if detail is not None:
            return reason, detail
    return None
