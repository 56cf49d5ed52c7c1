"""Seed-mining speed: extraction + filters (functions/s), and our MinHash near-dedup against
datasketch (MinHash + MinHashLSH with the same num_perm, shingles and threshold) on the same
>= 20,000 snippets, with both checked against exact Jaccard on a sample.

Snippets are every function and method of this Python's standard library, plus lightly edited
copies of one in ten of them (so there are known near-duplicates), capped at --snippets.
Agreement = |pairs flagged AND truly >= threshold| / |pairs flagged OR truly >= threshold| on the
sample (a pair-set Jaccard, so both missed and extra pairs count against it).

    python bench/seeds.py [--files 3000] [--snippets 20000] [--num-perm 128] [--threshold 0.5]
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import sys
import sysconfig
import time
import warnings
from pathlib import Path

from selfalign.quality.dedup import MinHashParams, duplicate_pairs, jaccard, shingle_set
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


def exact_pairs(texts: list[str], ids: list[int], threshold: float, size: int) -> set[tuple[int, int]]:
    """All pairs among ``ids`` with exact shingle Jaccard >= threshold (inverted index)."""
    sets = {i: shingle_set(texts[i], size) for i in ids}
    postings: dict[bytes, list[int]] = {}
    for i in ids:
        for s in sets[i]:
            postings.setdefault(s, []).append(i)
    seen: set[tuple[int, int]] = set()
    for docs in postings.values():
        for a in range(len(docs)):
            for b in range(a + 1, len(docs)):
                seen.add((min(docs[a], docs[b]), max(docs[a], docs[b])))
    return {(i, j) for i, j in seen if jaccard(sets[i], sets[j]) >= threshold}


def agreement(flagged: set, truth: set) -> float:
    return len(flagged & truth) / len(flagged | truth) if flagged | truth else 1.0


def bench_minhash(texts: list[str], params: MinHashParams, sample: int) -> None:
    print(f"\nnear-dedup: {len(texts)} snippets, num_perm={params.num_perm}, "
          f"{params.shingle_size}-word shingles, threshold={params.threshold}")
    start = time.perf_counter()
    ours = {tuple(p) for p in duplicate_pairs(texts, params).tolist()}
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    theirs = datasketch_pairs(texts, params)
    t_theirs = time.perf_counter() - start
    print(f"  selfalign:  {t_ours:6.2f}s  {len(texts) / t_ours:9,.0f} snippets/s  {len(ours)} pairs")
    print(f"  datasketch: {t_theirs:6.2f}s  {len(texts) / t_theirs:9,.0f} snippets/s  {len(theirs)} pairs")
    print(f"  speed-up: {t_theirs / t_ours:.1f}x")
    rng = random.Random(1)
    ids = sorted(rng.sample(range(len(texts)), min(sample, len(texts))))
    # The sample must hold duplicate pairs: add the partner of every flagged pair touching it.
    chosen = set(ids)
    for i, j in ours | theirs:
        if i in chosen or j in chosen:
            chosen |= {i, j}
    ids = sorted(chosen)
    truth = exact_pairs(texts, ids, params.threshold, params.shingle_size)
    inside = lambda pairs: {p for p in pairs if p[0] in chosen and p[1] in chosen}
    for name, pairs in (("selfalign", inside(ours)), ("datasketch", inside(theirs))):
        tp = len(pairs & truth)
        print(f"  {name:<10} vs exact Jaccard on {len(ids)} snippets ({len(truth)} true pairs): "
              f"agreement {agreement(pairs, truth):.1%}, recall {tp / max(len(truth), 1):.1%}, "
              f"precision {tp / max(len(pairs), 1):.1%}")
    print(f"  selfalign vs datasketch (all pairs): agreement {agreement(ours, theirs):.1%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snippets", type=int, default=20000)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--sample", type=int, default=3000)
    parser.add_argument("--files", type=int, default=3000, help="files timed for extraction")
    parser.add_argument("--skip-extraction", action="store_true")
    parser.add_argument("--skip-minhash", action="store_true")
    args = parser.parse_args()
    stdlib = sysconfig.get_paths()["stdlib"]
    if not args.skip_extraction:
        bench_extraction(stdlib, args.files)
    if args.skip_minhash:
        return 0
    texts = stdlib_snippets(stdlib, args.snippets)
    params = MinHashParams(num_perm=args.num_perm, shingle_size=5, threshold=args.threshold)
    duplicate_pairs(texts[:100], params)   # warm-up: numpy paths and the LSH parameter search
    bench_minhash(texts, params, args.sample)
    return 0


if __name__ == "__main__":
    sys.exit(main())
