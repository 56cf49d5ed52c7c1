"""Benchmark decontamination: does a text contain (most of) a benchmark prompt or solution?

Shared by seed mining and curation. Every benchmark text (HumanEval/MBPP prompts and canonical
solutions, DS-1000 prompts, user files) is cut into lowercase *word* tokens -- punctuation, quotes,
commas, comments' ``#`` and all whitespace are ignored -- and its word n-grams are indexed. A
candidate text is contaminated by a benchmark text when it contains all of that text's n-grams
(``decontam:exact``: the text was pasted in, modulo formatting) or at least ``overlap`` of them
(``decontam:ngram``: lightly edited).

Short solutions escape n-grams: a 3-line MBPP function has a handful of 10-grams, and a
docstring added under its ``def`` line breaks most of them. So every benchmark *function* (MBPP
solutions; HumanEval prompt + canonical body) is also indexed by name with its body's word
tokens (docstring and comments left out), and a candidate that defines a function of that name
whose body follows verbatim, token for token, is ``decontam:function``. Bodies of fewer than
``min_body_words`` words (``return string == string[::-1]``) are too generic to count.

The trade-off: word tokens make the checks blind to re-formatting (black, quote style, trailing
commas, line breaks) at the price of treating ``a+b`` and ``a*b`` alike; benchmark texts shorter
than ``n`` words are skipped by the n-gram check because such short snippets (``return a + b``)
occur everywhere, and the function check needs the benchmark's function name, so a renamed
short copy goes unnoticed.
"""

from __future__ import annotations

import ast
import logging
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from selfalign.store import iter_jsonl

log = logging.getLogger(__name__)
_WORD = re.compile(r"\w+")
_COMMENT = re.compile(r"#[^\n]*")
MIN_BODY_WORDS = 3


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def code_words(text: str) -> list[str]:
    """Word tokens with ``#`` comments removed (from benchmark and candidate alike, so a ``#``
    inside a string cuts both the same way)."""
    return words(_COMMENT.sub(" ", text))


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


@dataclass(frozen=True)
class Contamination:
    reason: str          # decontam:exact | decontam:ngram | decontam:function
    benchmark_id: str    # e.g. "humaneval:HumanEval/0:prompt"
    overlap: float       # fraction of the benchmark text's n-grams found (1.0 for a function)


def function_bodies(source: str, min_body_words: int = MIN_BODY_WORDS) -> list[tuple[str, str]]:
    """(lowercase name, body as space-joined code words) of every function of ``source`` whose
    body, docstring left out, has at least ``min_body_words`` words; [] if it does not parse."""
    try:
        with warnings.catch_warnings():   # benchmark code has invalid escapes ("\d" in regexes)
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if _is_docstring(node.body[0]) else node.body
            text = "\n".join(ast.get_source_segment(source, stmt) or "" for stmt in body)
            tokens = code_words(text)
            if len(tokens) >= min_body_words:
                found.append((node.name.lower(), " ".join(tokens)))
    return found


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


class Decontaminator:
    """An n-gram index over benchmark texts and a name index over benchmark functions;
    ``check(text)`` finds the best-covered text, else a copied function."""

    def __init__(self, texts: Iterable[tuple[str, str]], n: int = 10, overlap: float = 0.5,
                 functions: Iterable[tuple[str, str]] = (), min_body_words: int = MIN_BODY_WORDS) -> None:
        self.n, self.overlap = n, overlap
        self.ids: list[str] = []
        self.sizes: list[int] = []
        self.index: dict[tuple[str, ...], list[int]] = {}
        # function name -> (benchmark id, body words joined by spaces)
        self.functions: dict[str, list[tuple[str, str]]] = {}
        self.report = BenchmarkReport()
        for ident, text in texts:
            grams = ngrams(words(text), n)
            if not grams:
                continue   # shorter than n words: too generic to test for
            doc = len(self.ids)
            self.ids.append(ident)
            self.sizes.append(len(grams))
            for gram in grams:
                self.index.setdefault(gram, []).append(doc)
        for ident, source in functions:
            for name, body in function_bodies(source, min_body_words):
                entries = self.functions.setdefault(name, [])
                if all(body != known for _, known in entries):
                    entries.append((ident, body))

    def __len__(self) -> int:
        return len(self.ids)

    def check(self, text: str) -> Contamination | None:
        return self.check_ngrams(text) or self.check_functions(text)

    def check_functions(self, text: str) -> Contamination | None:
        """A benchmark function defined under its own name with its body verbatim (in word
        tokens): the body must start before the candidate's next ``def``."""
        if not self.functions or "def" not in text:
            return None
        tokens = code_words(text)
        defs = [i for i, tok in enumerate(tokens[:-1]) if tok == "def"]
        hits = [i for i in defs if tokens[i + 1] in self.functions]
        if not hits:
            return None
        joined = " " + " ".join(tokens) + " "
        starts = [0]
        for tok in tokens:
            starts.append(starts[-1] + len(tok) + 1)   # token k starts at starts[k] + 1 in joined
        for i in hits:
            next_def = next((d for d in defs if d > i), len(tokens))
            for ident, body in self.functions[tokens[i + 1]]:
                at = joined.find(f" {body} ", starts[i + 2])
                if 0 <= at < starts[next_def] + 1:
                    return Contamination("decontam:function", ident, 1.0)
        return None

    def check_ngrams(self, text: str) -> Contamination | None:
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


@dataclass
class BenchmarkReport:
    """What an index was built from: texts per benchmark, and the benchmarks skipped (why)."""

    texts: dict[str, int] = field(default_factory=dict)
    functions: int = 0
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """For a manifest entry: texts indexed per benchmark, and the unavailable ones with why."""
        return {"against": dict(self.texts), "unavailable": dict(self.skipped)}


def benchmark_texts(names: Sequence[str], path: str | None = None,
                    report: BenchmarkReport | None = None, warn_missing: bool = True) -> list[tuple[str, str]]:
    """(id, text) for the prompt and canonical solution of every problem of each benchmark
    (all of MBPP's splits: a copy of a training problem is still a copy).

    A benchmark whose data is not available here is skipped and listed in ``report.skipped``, so
    the default list works on machines that lack, say, DS-1000. It is a warning only with
    ``warn_missing``: a caller passes False for its default list ("whatever is local"), where a
    missing benchmark is expected and the user did not ask for it by name."""
    from selfalign.benchmarks import BenchmarkError, load

    out: list[tuple[str, str]] = []
    for name in names:
        try:
            problems = load(name, path, **({"split": "all"} if name.lower() == "mbpp" else {}))
        except (BenchmarkError, OSError) as exc:
            (log.warning if warn_missing else log.info)(
                "decontamination: benchmark %s not available, skipped (%s)", name, exc)
            if report is not None:
                report.skipped[name] = str(exc)
            continue
        before = len(out)
        for p in problems:
            out.append((f"{name}:{p.task_id}:prompt", p.prompt))
            if p.canonical_solution:
                out.append((f"{name}:{p.task_id}:solution", p.canonical_solution))
        if report is not None:
            report.texts[name] = len(out) - before
    return out


def benchmark_functions(texts: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(id, source) of the functions to index: a solution that holds its ``def`` as is; a body
    alone (HumanEval's canonical solution) under the prompt it completes."""
    prompts = {ident.rsplit(":", 1)[0]: text for ident, text in texts if ident.endswith(":prompt")}
    out = []
    for ident, text in texts:
        if ident.endswith(":solution"):
            has_def = re.search(r"^[ \t]*(?:async[ \t]+)?def[ \t]", text, re.MULTILINE)
            prompt = prompts.get(ident.rsplit(":", 1)[0], "")
            out.append((ident, text if has_def else prompt + text))
        elif not ident.endswith(":prompt"):
            out.append((ident, text))        # user files: whatever parses
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
          n: int = 10, overlap: float = 0.5, functions: bool = True,
          warn_missing: bool = True) -> Decontaminator:
    """The index over the named benchmarks and user files; ``functions``: also the
    short-function check. ``.report`` says what was indexed and what was skipped;
    ``warn_missing``: see ``benchmark_texts``."""
    report = BenchmarkReport()
    texts = benchmark_texts(benchmarks, benchmark_dir, report, warn_missing)
    extra = file_texts(files)
    if extra:
        report.texts["files"] = len(extra)
    index = Decontaminator(texts + extra, n, overlap, benchmark_functions(texts + extra) if functions else ())
    report.functions = sum(len(v) for v in index.functions.values())
    index.report = report
    return index
