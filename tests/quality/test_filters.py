"""The keep/drop filter protocol and each neutral filter, on literal items."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Sequence

import pytest

from selfalign.quality.decontam import Decontaminator
from selfalign.quality.minhash import MinHashParams
from selfalign.quality.filters import (BannedWords, Decontaminate, Drop, ExactDedup, Filter, ItemFilter, MaxLines,
                                       MaxWords, NearDedup, run_filters)


@dataclass
class Row:
    text: str
    label: str


def rows(*texts: str) -> list[Row]:
    return [Row(text, f"r{i}") for i, text in enumerate(texts)]


def answers(items, *filters) -> list[tuple[str, str] | None]:
    return [(d.reason, d.detail) if d else None for _, d in run_filters(items, list(filters))]


class Recorder(Filter[Row]):
    """Drops the texts in ``drop`` and remembers every batch it was asked about."""

    def __init__(self, drop: set[str], batch_size: int, name: str = "recorder") -> None:
        self.drop, self.batch_size, self.name = drop, batch_size, name
        self.batches: list[list[str]] = []

    def decide(self, items: Sequence[Row]) -> list[Drop | None]:
        self.batches.append([i.label for i in items])
        return [Drop(self.name, i.label) if i.text in self.drop else None for i in items]


def test_run_filters_keeps_input_order_and_the_first_reason():
    items = rows("a", "b", "c", "d")
    first, second = Recorder({"b", "c"}, 0, "first"), Recorder({"c", "d"}, 0, "second")
    out = run_filters(items, [first, second])
    assert [item for item, _ in out] == items
    assert [drop for _, drop in out] == [None, Drop("first", "r1"), Drop("first", "r2"), Drop("second", "r3")]
    assert second.batches == [["r0", "r3"]]          # only what the first filter kept


def test_batches_are_respected_and_zero_means_the_whole_set():
    items = rows(*"abcde")
    batched, whole = Recorder({"a"}, 2), Recorder(set(), 0)
    run_filters(items, [batched, whole])
    assert batched.batches == [["r0", "r1"], ["r2", "r3"], ["r4"]]
    assert whole.batches == [["r1", "r2", "r3", "r4"]]


def test_nothing_left_means_no_call():
    later = Recorder(set(), 0)
    assert run_filters(rows("a"), [Recorder({"a"}, 1), later])[0][1] == Drop("recorder", "r0")
    assert later.batches == [] and run_filters([], [later]) == []


def test_a_filter_must_answer_once_per_item():
    class Short(Filter[Row]):
        def decide(self, items: Sequence[Row]) -> list[Drop | None]:
            return [None]

    with pytest.raises(ValueError, match="answered 1 times for 2 items"):
        run_filters(rows("a", "b"), [Short()])


def test_progress_reports_one_phase_per_filter():
    seen: list[tuple[str, int, int]] = []

    @contextlib.contextmanager
    def progress(name: str, total: int):
        done = [0]
        yield lambda n=1: done.__setitem__(0, done[0] + n)
        seen.append((name, total, done[0]))

    run_filters(rows(*"abc"), [Recorder({"a"}, 2, "one"), Recorder(set(), 0, "two")], progress)
    assert seen == [("one", 3, 3), ("two", 2, 2)]


def test_item_filter_checks_each_item():
    class Odd(ItemFilter[Row]):
        def check(self, item):
            return Drop(self.reason, item.label) if len(item.text) % 2 else None

    odd = Odd("odd")
    assert (odd.reason, odd.name) == ("odd", "odd")
    assert answers(rows("ab", "abc", ""), odd) == [None, ("odd", "r1"), None]


def test_exact_dedup_names_the_first_copy():
    items = rows("x = 1\n", "y = 2\n", "x = 1   \n\n\n", "x = 1\n")
    assert answers(items, ExactDedup()) == [None, None, ("dedup:exact", "same as r0"), ("dedup:exact", "same as r0")]
    assert ExactDedup.batch_size == 0


def test_near_dedup_drops_a_light_edit_of_an_earlier_text():
    base = " ".join(f"word{i}" for i in range(60))
    edited = base.replace("word30", "changed")
    other = " ".join(f"other{i}" for i in range(60))
    assert answers(rows(base, other, edited), NearDedup(MinHashParams())) == [None, None, ("dedup:near", "near r0")]
    assert NearDedup.batch_size == 0


def test_decontaminate_reports_the_benchmark_and_overlap():
    bench = " ".join(f"token{i}" for i in range(40))
    index = Decontaminator([("bench:1:prompt", bench)], n=10, overlap=0.5)
    half = " ".join(f"token{i}" for i in range(30)) + " unrelated words follow here"
    got = answers(rows(f"def f():\n    '''{bench}'''\n", half, "nothing in common"), Decontaminate(index))
    assert got[0] == ("decontam:exact", "bench:1:prompt (100%)")
    assert got[1] == ("decontam:ngram", "bench:1:prompt (68%)")     # 21 of 31 ten-grams
    assert got[2] is None


def test_banned_words_are_case_insensitive_substrings():
    words = BannedWords(["TODO", "bug"])
    assert answers(rows("# todo: later", "debug = 1", "fine"), words) == \
        [("filter:banned_word", "contains 'TODO'"), ("filter:banned_word", "contains 'bug'"), None]
    assert answers(rows("todo"), BannedWords([])) == [None]


def test_max_lines_counts_text_lines_or_what_the_caller_measures():
    assert answers(rows("a\nb", "a\nb\nc\n"), MaxLines(2)) == [None, ("filter:too_long", "3 lines > 2")]
    by_label = MaxLines(2, "too_long", lines=lambda item: int(item.label[1:]))
    assert answers(rows("a", "b", "c", "d"), by_label) == [None, None, None, ("too_long", "3 lines > 2")]


def test_max_words_uses_the_callers_reason():
    assert answers(rows("one two three", "one  two\nthree four"), MaxWords(3, "instruction_too_long")) == \
        [None, ("instruction_too_long", "4 words > 3")]
