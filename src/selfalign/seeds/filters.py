"""The cheap per-function seed filters of docs/method.md ("Seed filters"), each with a stable drop reason.

``no_args``, ``no_return`` and ``banned_import`` read facts the extractor computed from the AST,
so they are seed filters here; length and banned words are the neutral text filters of
``selfalign.quality.filters``. ``cheap_filters(cfg)`` lists the enabled ones in a fixed order
(no_args, no_return, too_long, banned_import, banned_word) and the first that rejects a function
names its one drop reason. The trade-off: a switched-off filter is simply left out of the list,
so the funnel cannot tell "passed" from "not checked".
"""

from __future__ import annotations

from operator import attrgetter

from selfalign.quality.filters import BannedWords, Drop, Filter, ItemFilter, MaxLines

from .config import SeedsConfig
from .extract import Candidate


class NoArgs(ItemFilter[Candidate]):
    """Fewer than ``min_args`` arguments, not counting a method's self/cls."""

    def __init__(self, min_args: int) -> None:
        super().__init__("filter:no_args")
        self.min_args = min_args

    def check(self, item: Candidate) -> Drop | None:
        return Drop(self.reason, f"{item.n_args} argument(s)") if item.n_args < self.min_args else None


class NoReturn(ItemFilter[Candidate]):
    """No ``return <value>`` in the function's own body."""

    def __init__(self) -> None:
        super().__init__("filter:no_return")

    def check(self, item: Candidate) -> Drop | None:
        return None if item.valued_return else Drop(self.reason, "no `return <value>`")


class BannedImport(ItemFilter[Candidate]):
    """The snippet imports one of ``modules`` (top-level names)."""

    def __init__(self, modules: list[str]) -> None:
        super().__init__("filter:banned_import")
        self.modules = set(modules)

    def check(self, item: Candidate) -> Drop | None:
        hit = next((m for m in item.imports if m in self.modules), None)
        return None if hit is None else Drop(self.reason, f"imports {hit}")


def cheap_filters(cfg: SeedsConfig) -> list[Filter[Candidate]]:
    """The enabled per-function filters, in the order their reasons take precedence."""
    filters: list[Filter[Candidate]] = []
    if cfg.min_args > 0:
        filters.append(NoArgs(cfg.min_args))
    if cfg.require_return:
        filters.append(NoReturn())
    filters.append(MaxLines(cfg.max_lines, "filter:too_long", lines=attrgetter("n_lines")))
    if cfg.banned_imports:
        filters.append(BannedImport(cfg.banned_imports))
    if cfg.banned_words:
        filters.append(BannedWords(cfg.banned_words, "filter:banned_word"))
    return filters
