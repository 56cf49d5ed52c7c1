"""Benchmark decontamination: does a text contain (most of) a benchmark prompt or solution?

Shared by seed mining and curation. Every benchmark text (HumanEval/MBPP prompts and canonical
solutions, DS-1000 prompts, user files) is cut into lowercase *word* tokens -- punctuation, quotes,
commas, comments' ``#`` and all whitespace are ignored -- and its word n-grams are indexed. A
candidate text is contaminated by a benchmark text when it contains all of that text's n-grams
(``decontam:exact``: the text was pasted in, modulo formatting) or at least ``overlap`` of them
(``decontam:ngram``: lightly edited).

The trade-off: word tokens make the check blind to re-formatting (black, quote style, trailing
commas, line breaks) at the price of treating ``a+b`` and ``a*b`` alike; benchmark texts shorter
than ``n`` words are skipped because such short snippets (``return a + b``) occur everywhere.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from selfalign.store import iter_jsonl

log = logging.getLogger(__name__)
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


@dataclass(frozen=True)
class Contamination:
    reason: str          # decontam:exact | decontam:ngram
    benchmark_id: str    # e.g. "humaneval:HumanEval/0:prompt"
    overlap: float       # fraction of the benchmark text's n-grams found


class Decontaminator:
    """An n-gram index over benchmark texts; ``check(text)`` finds the best-covered one."""

    def __init__(self, texts: Iterable[tuple[str, str]], n: int = 10, overlap: float = 0.5) -> None:
        self.n, self.overlap = n, overlap
        self.ids: list[str] = []
        self.sizes: list[int] = []
        self.index: dict[tuple[str, ...], list[int]] = {}
        for ident, text in texts:
            grams = ngrams(words(text), n)
            if not grams:
                continue   # shorter than n words: too generic to test for
            doc = len(self.ids)
            self.ids.append(ident)
            self.sizes.append(len(grams))
            for gram in grams:
                self.index.setdefault(gram, []).append(doc)

    def __len__(self) -> int:
        return len(self.ids)

    def check(self, text: str) -> Contamination | None:
        hits: Counter[int] = Counter()
        for gram in ngrams(words(text), self.n):
            docs = self.index.get(gram)
            if docs:
                hits.update(docs)
        if not hits:
            return None
        doc, ratio = max(((d, c / self.sizes[d]) for d, c in hits.items()), key=lambda x: x[1])
        if ratio >= 1.0:
            return Contamination("decontam:exact", self.ids[doc], 1.0)
        if ratio >= self.overlap:
            return Contamination("decontam:ngram", self.ids[doc], round(ratio, 3))
        return None


def benchmark_texts(names: Sequence[str], path: str | None = None) -> list[tuple[str, str]]:
    """(id, text) for the prompt and canonical solution of every problem of each benchmark.

    A benchmark whose data is not available here is skipped with a warning naming it, so the
    default list works on machines that lack, say, DS-1000."""
    from selfalign.benchmarks import BenchmarkError, load

    out: list[tuple[str, str]] = []
    for name in names:
        try:
            problems = load(name, path)
        except (BenchmarkError, OSError) as exc:
            log.warning("decontamination: benchmark %s not available, skipped (%s)", name, exc)
            continue
        for p in problems:
            out.append((f"{name}:{p.task_id}:prompt", p.prompt))
            if p.canonical_solution:
                out.append((f"{name}:{p.task_id}:solution", p.canonical_solution))
    return out


def file_texts(files: Sequence[str]) -> list[tuple[str, str]]:
    """(id, text) from user files: JSONL(.gz) -> every string (or list of strings) field of
    every row; anything else -> the whole file as one text."""
    out: list[tuple[str, str]] = []
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"decontamination file not found: {name}")
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            out += _jsonl_texts(path)
        else:
            out.append((f"{path.name}", path.read_text(encoding="utf-8", errors="replace")))
    return out


def _jsonl_texts(path: Path) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for number, row in iter_jsonl(path):
        items = row.items() if isinstance(row, dict) else [("value", row)]
        for key, value in items:
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = "\n".join(value)
            if isinstance(value, str):
                out.append((f"{path.name}:{number}:{key}", value))
    return out


def build(benchmarks: Sequence[str], benchmark_dir: str | None = None, files: Sequence[str] = (),
          n: int = 10, overlap: float = 0.5) -> Decontaminator:
    return Decontaminator(benchmark_texts(benchmarks, benchmark_dir) + file_texts(files), n, overlap)
