"""Keep or drop with a reason: the one filter protocol of seed mining and curation.

An item is anything with a ``text`` and a ``label`` (a seed candidate, a curation row); the label
names it in a drop's detail ("same as <label>"). A ``Filter`` decides for a batch of items at
once and answers, per item, ``None`` (keep) or a ``Drop`` with a stable reason key and a detail.
``run_filters`` applies filters in order, each only to what the earlier ones kept, so every item
is dropped at most once, under the first reason that applies.

Batching is the filter's own business: ``batch_size`` items per ``decide`` call (a type checker
or a model wants large batches), or 0 for filters that must see the whole set (dedup). The
trade-off: ``run_filters`` holds all items in memory and answers only when every filter is
done, in exchange for whole-set filters and results in input order whatever the batching.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import (TYPE_CHECKING, Callable, ContextManager, Generic, Iterable, Protocol, Sequence,
                    TypeVar)

if TYPE_CHECKING:   # dedup and minhash load numpy: text filters alone should not
    from .decontam import Decontaminator
    from .minhash import MinHashParams, Sketcher


class Item(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def label(self) -> str: ...


I = TypeVar("I", bound=Item)
I_contra = TypeVar("I_contra", bound=Item, contravariant=True)
Advance = Callable[[int], None]
# (filter name, number of items) -> a context yielding advance(n), like selfalign.progress.progress
Progress = Callable[[str, int], ContextManager[Advance]]


@dataclass(frozen=True)
class Drop:
    """Why an item is not kept: a short stable key counted in the funnel, and a detail."""

    reason: str
    detail: str = ""


class Filter(ABC, Generic[I_contra]):
    """Decides keep (None) or drop for each item of a batch, in order."""

    name: str = "filter"     # for progress and logs; the reason is in each Drop
    batch_size: int = 0      # items per decide() call; 0: the whole set in one call

    @abstractmethod
    def decide(self, items: Sequence[I_contra]) -> list[Drop | None]:
        """One answer per item, in the order given."""


class ItemFilter(Filter[I_contra], ABC):
    """A filter that judges each item on its own: subclasses write ``check``."""

    batch_size = 256         # any size works; this one only paces the progress report

    def __init__(self, reason: str) -> None:
        self.reason = self.name = reason

    def decide(self, items: Sequence[I_contra]) -> list[Drop | None]:
        return [self.check(item) for item in items]

    @abstractmethod
    def check(self, item: I_contra) -> Drop | None:
        """A Drop with ``self.reason``, or None to keep the item."""


def decide_all(step: Filter[I], items: Sequence[I], progress: Progress | None = None) -> list[Drop | None]:
    """``step``'s answers for ``items``, asked in batches of its ``batch_size``."""
    if not items:
        return []
    size = step.batch_size or len(items)
    answers: list[Drop | None] = []
    with (progress or _silent)(step.name, len(items)) as advance:
        for start in range(0, len(items), size):
            batch = items[start:start + size]
            decided = step.decide(batch)
            if len(decided) != len(batch):
                raise ValueError(f"filter {step.name} answered {len(decided)} times for {len(batch)} items")
            answers += decided
            advance(len(batch))
    return answers


def run_filters(items: Iterable[I], filters: Sequence[Filter[I]],
                progress: Progress | None = None) -> list[tuple[I, Drop | None]]:
    """Every item with its first Drop (or None: kept), in input order. Each filter sees only
    what the filters before it kept; ``progress`` reports one phase per filter."""
    items = list(items)
    drops: list[Drop | None] = [None] * len(items)
    alive = list(range(len(items)))
    for step in filters:
        answers = decide_all(step, [items[i] for i in alive], progress)
        for i, drop in zip(alive, answers):
            drops[i] = drop
        alive = [i for i, drop in zip(alive, answers) if drop is None]
    return list(zip(items, drops))


@contextlib.contextmanager
def _silent(name: str, total: int):
    yield lambda n=1: None


class ExactDedup(Filter[Item]):
    """Drops a text equal to an earlier one (trailing spaces and blank lines ignored; pass
    ``normalize`` to ignore more, e.g. all whitespace)."""

    name = "exact dedup"

    def __init__(self, reason: str = "dedup:exact", normalize: Callable[[str], str] | None = None) -> None:
        self.reason, self.normalize = reason, normalize

    def decide(self, items: Sequence[Item]) -> list[Drop | None]:
        from .dedup import exact_duplicates

        texts = (item.text if self.normalize is None else self.normalize(item.text) for item in items)
        return [None if first < 0 else Drop(self.reason, f"same as {items[first].label}")
                for first in exact_duplicates(texts)]


class NearDedup(Filter[Item]):
    """Drops a text whose MinHash Jaccard to an earlier kept text reaches the threshold;
    ``sketcher`` (default: this process) computes the signatures, shard by shard."""

    name = "near dedup"

    def __init__(self, params: MinHashParams, sketcher: Sketcher | None = None) -> None:
        self.params, self.sketcher = params, sketcher

    def decide(self, items: Sequence[Item]) -> list[Drop | None]:
        from .dedup import near_duplicates
        from .minhash import LOCAL

        originals = near_duplicates([item.text for item in items], self.params, self.sketcher or LOCAL)
        return [None if original < 0 else Drop("dedup:near", f"near {items[original].label}")
                for original in originals]


class Decontaminate(ItemFilter[Item]):
    """Drops a text covering (most of) a benchmark text; the reason is the hit's
    (``decontam:exact`` or ``decontam:ngram``)."""

    def __init__(self, index: Decontaminator) -> None:
        super().__init__("decontam")
        self.name, self.index = "decontaminate", index

    def check(self, item: Item) -> Drop | None:
        hit = self.index.check(item.text)
        return None if hit is None else Drop(hit.reason, f"{hit.benchmark_id} ({hit.overlap:.0%})")


class BannedWords(ItemFilter[Item]):
    """Drops a text containing any of ``words`` as a case-insensitive substring (so ``bug``
    also drops ``debug``: recall traded for simplicity, as in the original recipe)."""

    def __init__(self, words: Sequence[str], reason: str = "filter:banned_word") -> None:
        super().__init__(reason)
        self.words = [(word, word.lower()) for word in words]

    def check(self, item: Item) -> Drop | None:
        lowered = item.text.lower()
        hit = next((word for word, low in self.words if low in lowered), None)
        return None if hit is None else Drop(self.reason, f"contains {hit!r}")


def text_lines(item: Item) -> int:
    return len(item.text.splitlines())


class MaxLines(ItemFilter[I]):
    """Drops an item longer than ``limit`` lines, as counted by ``lines`` (the text's lines by
    default; a seed counts its span in the source file instead)."""

    def __init__(self, limit: int, reason: str = "filter:too_long",
                 lines: Callable[[I], int] = text_lines) -> None:
        super().__init__(reason)
        self.limit, self.lines = limit, lines

    def check(self, item: I) -> Drop | None:
        count = self.lines(item)
        return Drop(self.reason, f"{count} lines > {self.limit}") if count > self.limit else None


class MaxWords(ItemFilter[Item]):
    """Drops a text of more than ``limit`` whitespace-separated words."""

    def __init__(self, limit: int, reason: str) -> None:
        super().__init__(reason)
        self.limit = limit

    def check(self, item: Item) -> Drop | None:
        count = len(item.text.split())
        return Drop(self.reason, f"{count} words > {self.limit}") if count > self.limit else None
