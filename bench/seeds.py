"""Seed-mining speed: extraction + filters (functions/s), and our MinHash near-dedup against
datasketch on the same >= 20,000 snippets, both checked against exact Jaccard on ALL pairs.

Snippets are every function and method of this Python's standard library, plus lightly edited
copies of one in ten of them (so there are known near-duplicates), capped at --snippets.

Settings: the headline is the pipeline's own (250 permutations, threshold 0.7: curation's MinHash
dedup, docs/method.md), then 128 / 0.5 (seed mining's threshold); 5-word shingles throughout.

Baseline: datasketch, the reference MinHash/LSH, in its fastest documented use: ``MinHash.bulk``
(numpy over all permutations at once) + ``MinHashLSH`` with the same num_perm and threshold (its
own band choice), each candidate verified on the signatures (``MinHash.jaccard``) so that both
sides report pairs with *estimated* Jaccard >= threshold (ours computes the exact value where the
estimate is within 3 sigma of the threshold). Both sides are timed from the raw texts, shingling
included. The two sides alternate for --rounds rounds (ABBA) and the median time of each is
reported, so a load change on a shared machine hits both.

Ground truth (complete, not sampled): every pair of the whole set whose exact Jaccard of the
shingle sets (the real shingles, not hashes) is >= the threshold, found by prefix filtering
(Chaudhuri et al. 2006; Bayardo et al.'s All-Pairs, 2007). Order every shingle by its frequency
in the set; if J(x, y) >= t then |x & y| >= t * max(|x|, |y|), and by the prefix principle two sets
sharing at least o elements share one among their first |x| - o + 1 elements. So indexing each
set's first |x| - ceil(t |x|) + 1 shingles (t as an exact fraction, so no rounding can shorten a
prefix) makes every true pair a candidate; every candidate is then verified exactly in integer
arithmetic. Nothing is estimated, so recall and precision below are against all true pairs.
--brute-check N re-derives the truth by brute force over N random snippets (all N^2/2 pairs)
and checks the prefix filter missed none of them. Empty shingle sets (no word tokens) are left out
of the truth, as both methods leave them out.

    python bench/seeds.py [--files 3000] [--snippets 20000] [--settings 250:0.7,128:0.5]
"""

from __future__ import annotations

import argparse
import ast
import collections
import math
import os
import random
import statistics
import sys
import sysconfig
import time
import warnings
from fractions import Fraction
from pathlib import Path

from selfalign.quality.dedup import duplicate_pairs
from selfalign.quality.minhash import MinHashParams, shingle_set
from selfalign.records import Dropped
from selfalign.seeds.config import SeedsConfig
from selfalign.seeds.filters import cheap_filters
from selfalign.seeds.mine import _extracted, process_file
from selfalign.seeds.sources import SourceFile, iter_sources


def bench_extraction(stdlib: str, max_files: int) -> None:
    """Our extraction + filters against a bare ``ast.parse`` of the same files (the floor)."""
    cfg = SeedsConfig(sources=[stdlib], typecheck=False, decontaminate=False)
    files = [f for f in iter_sources(cfg) if isinstance(f, SourceFile)][:max_files]
    size = sum(len(f.data) for f in files)
    start = time.perf_counter()
    for f in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse(f.data.decode("utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            pass
    bare = time.perf_counter() - start
    start = time.perf_counter()
    filters = cheap_filters(cfg)
    items = [i for f in files for i in process_file(f, cfg.include_methods, filters)]
    single = time.perf_counter() - start
    functions = sum(1 for i in items if not (isinstance(i, Dropped) and i.reason.startswith("file:")))
    cfg.sources = [f"{stdlib}/{f.path}" for f in files]
    start = time.perf_counter()
    sum(1 for _ in _extracted(cfg))
    pooled = time.perf_counter() - start
    print(f"extraction + filters: {len(files)} files, {size / 1e6:.1f} MB, {functions} top-level functions")
    print(f"  bare ast.parse:      {bare:6.1f}s  {functions / bare:8,.0f} functions/s")
    print(f"  ours, 1 process:     {single:6.1f}s  {functions / single:8,.0f} functions/s  ({single / bare:.2f}x bare parse)")
    print(f"  ours, {os.cpu_count()} workers:     {pooled:6.1f}s  {functions / pooled:8,.0f} functions/s (incl. reading files)")


def stdlib_snippets(stdlib: str, limit: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    for path in sorted(Path(stdlib).rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(text)
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        lines = text.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
                out.append("\n".join(lines[node.lineno - 1:node.end_lineno]))
                if rng.random() < 0.1:
                    out.append(_edit(out[-1], rng))
        if len(out) >= limit:
            break
    return out[:limit]


def _edit(text: str, rng: random.Random) -> str:
    """A light edit: rename a few words and drop a line or two."""
    lines = text.splitlines()
    for _ in range(rng.randint(0, 2)):
        if len(lines) > 3:
            lines.pop(rng.randrange(1, len(lines)))
    words = sorted(set(" ".join(lines).split()))
    out = "\n".join(lines)
    for word in rng.sample(words, min(2, len(words))):
        if word.isidentifier():
            out = out.replace(word, word + "_x")
    return out


def datasketch_pairs(texts: list[str], params: MinHashParams) -> set[tuple[int, int]]:
    from datasketch import MinHash, MinHashLSH

    shingles = [list(shingle_set(t, params.shingle_size)) for t in texts]
    hashes = MinHash.bulk(shingles, num_perm=params.num_perm, seed=params.seed)
    lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm)
    pairs: set[tuple[int, int]] = set()
    for i, m in enumerate(hashes):
        if not shingles[i]:
            continue
        for j in lsh.query(m):
            if m.jaccard(hashes[j]) >= params.threshold:
                pairs.add((j, i))
        lsh.insert(i, m)
    return pairs


def exact_pairs(texts: list[str], threshold: float, size: int) -> set[tuple[int, int]]:
    """Every pair (i < j) with exact shingle Jaccard >= threshold: prefix filtering, then exact
    verification (see the module docstring for why no true pair can be missed)."""
    sets = [shingle_set(t, size) for t in texts]
    freq = collections.Counter(s for st in sets for s in st)
    rank = {tok: r for r, tok in enumerate(sorted(freq, key=lambda tok: (freq[tok], tok)))}
    ordered = [sorted(rank[s] for s in st) for st in sets]
    t = Fraction(threshold).limit_denominator(10_000)
    postings: dict[int, list[int]] = collections.defaultdict(list)
    candidates: set[tuple[int, int]] = set()
    for i in sorted((i for i in range(len(texts)) if sets[i]), key=lambda i: len(sets[i])):
        n = len(ordered[i])
        prefix = n - math.ceil(t * n) + 1          # exact rational ceil: never too short
        smallest = t * n                           # size filter: |y| >= t |x| for y already seen
        for tok in ordered[i][:prefix]:
            for j in postings[tok]:
                if len(sets[j]) >= smallest:
                    candidates.add((min(i, j), max(i, j)))
            postings[tok].append(i)
    truth = set()
    for i, j in candidates:
        inter = len(sets[i] & sets[j])
        if inter * t.denominator >= t.numerator * (len(sets[i]) + len(sets[j]) - inter):
            truth.add((i, j))
    return truth


def brute_force_check(texts: list[str], truth: set, threshold: float, size: int, count: int) -> str:
    """All pairs among ``count`` random snippets by brute force: any true pair the prefix filter lost?"""
    rng = random.Random(2)
    ids = sorted(i for i in rng.sample(range(len(texts)), min(count, len(texts))))
    sets = {i: shingle_set(texts[i], size) for i in ids}
    t = Fraction(threshold).limit_denominator(10_000)
    found = 0
    for a in range(len(ids)):
        x = sets[ids[a]]
        if not x:
            continue
        for b in range(a + 1, len(ids)):
            y = sets[ids[b]]
            if y and (inter := len(x & y)) * t.denominator >= t.numerator * (len(x) + len(y) - inter):
                found += 1
                if (ids[a], ids[b]) not in truth:
                    return f"MISSED pair {ids[a], ids[b]}"
    inside = sum(1 for i, j in truth if i in sets and j in sets)
    return f"{len(ids)} snippets, {found} true pairs by brute force, prefix filter had {inside}: " + \
        ("complete" if inside == found else "MISMATCH")


def agreement(flagged: set, truth: set) -> float:
    return len(flagged & truth) / len(flagged | truth) if flagged | truth else 1.0


def timed(run) -> tuple[float, set]:
    start = time.perf_counter()
    pairs = run()
    return time.perf_counter() - start, pairs


def bench_minhash(texts: list[str], params: MinHashParams, rounds: int, brute: int) -> dict:
    print(f"\nnear-dedup: {len(texts)} snippets, num_perm={params.num_perm}, "
          f"{params.shingle_size}-word shingles, threshold={params.threshold}; "
          f"load average {os.getloadavg()[0]:.1f}")
    sides = {"selfalign": lambda: {tuple(p) for p in duplicate_pairs(texts, params).tolist()},
             "datasketch": lambda: datasketch_pairs(texts, params)}
    times: dict[str, list[float]] = {name: [] for name in sides}
    pairs: dict[str, set] = {}
    for r in range(rounds):
        for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            elapsed, pairs[name] = timed(sides[name])
            times[name].append(elapsed)
    t_ours, t_theirs = statistics.median(times["selfalign"]), statistics.median(times["datasketch"])
    print(f"  selfalign:  {t_ours:6.2f}s  {len(texts) / t_ours:9,.0f} snippets/s  {len(pairs['selfalign'])} pairs")
    print(f"  datasketch: {t_theirs:6.2f}s  {len(texts) / t_theirs:9,.0f} snippets/s  {len(pairs['datasketch'])} pairs")
    each = [b / a for a, b in zip(times["selfalign"], times["datasketch"])]
    print(f"  speed-up: {t_theirs / t_ours:.1f}x (median of {rounds} alternating rounds; per round "
          f"{min(each):.1f}-{max(each):.1f}x; load average now {os.getloadavg()[0]:.1f})")
    start = time.perf_counter()
    truth = exact_pairs(texts, params.threshold, params.shingle_size)
    print(f"  exact Jaccard, all pairs of all {len(texts)} snippets: {len(truth)} true pairs "
          f"({time.perf_counter() - start:.1f}s, prefix filtering)")
    if brute:
        print(f"  brute-force check: {brute_force_check(texts, truth, params.threshold, params.shingle_size, brute)}")
    out = {"selfalign_s": t_ours, "datasketch_s": t_theirs, "true_pairs": len(truth)}
    for name in sides:
        found = pairs[name]
        tp = len(found & truth)
        out[name] = (tp / max(len(truth), 1), tp / max(len(found), 1))
        print(f"  {name:<10} vs exact: recall {out[name][0]:.2%} ({tp}/{len(truth)}), precision "
              f"{out[name][1]:.2%} ({tp}/{len(found)}), agreement {agreement(found, truth):.2%}")
    print(f"  selfalign vs datasketch: agreement {agreement(pairs['selfalign'], pairs['datasketch']):.2%}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snippets", type=int, default=20000)
    parser.add_argument("--settings", default="250:0.7,128:0.5",
                        help="NUM_PERM:THRESHOLD list (default: curation's 250:0.7, then 128:0.5)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating timing rounds")
    parser.add_argument("--brute-check", type=int, default=1500,
                        help="snippets in the brute-force check of the exact truth (0: skip)")
    parser.add_argument("--files", type=int, default=3000, help="files timed for extraction")
    parser.add_argument("--skip-extraction", action="store_true")
    parser.add_argument("--skip-minhash", action="store_true")
    args = parser.parse_args()
    stdlib = sysconfig.get_paths()["stdlib"]
    print(f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}")
    print("baselines: extraction against a bare ast.parse of the same files; near-dedup against "
          "datasketch MinHash.bulk + MinHashLSH (same num_perm and threshold, candidates verified on "
          "the signatures), both timed from raw text; truth: exact Jaccard of every pair")
    if not args.skip_extraction:
        bench_extraction(stdlib, args.files)
    if args.skip_minhash:
        return 0
    texts = stdlib_snippets(stdlib, args.snippets)
    for item in args.settings.split(","):
        num_perm, threshold = item.split(":")
        params = MinHashParams(num_perm=int(num_perm), shingle_size=5, threshold=float(threshold))
        duplicate_pairs(texts[:100], params)   # warm-up: numpy paths and the LSH parameter search
        bench_minhash(texts, params, args.rounds, args.brute_check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
