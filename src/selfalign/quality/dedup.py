"""Exact and MinHash near-duplicate detection, shared by seed mining and curation.

Near-dedup follows the usual recipe (word shingles -> MinHash signatures -> LSH banding ->
candidate pairs -> keep the first of each group). The per-text half, shingles to signatures and
LSH band keys, is ``minhash``'s (``sketch_texts``, which may sketch shards elsewhere); this
module holds the half that needs every text's sketch at once: the bucket merge (sorting band
keys, pairing candidates), the verification, and the greedy keep-first.

The trade-off: the whole batch (signatures of ``num_perm`` uint32 and a uint64 key per LSH band
per text) sits in memory, ~400 MB for a million texts at 64 slots. Candidate pairs from LSH are
verified on the signatures, so a reported pair has estimated Jaccard >= threshold.

Exact dedup (``normalized_key``, ``ExactDeduper``, ``exact_duplicates``) needs no numpy work:
a sha1 of each normalised text.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

import numpy as np

from .minhash import EMPTY, LOCAL, MinHashParams, Sketcher, band_keys, shingle_hashes, sketch_texts

_SMALL_BUCKET = 16   # LSH buckets up to this size are paired in vectorised passes
_MAX_BUCKET = 2000   # beyond this, a bucket's extra members pair only with its first one


def candidate_pairs(sig: np.ndarray, params: MinHashParams, keys: np.ndarray | None = None) -> np.ndarray:
    """LSH banding: unique (i, j) pairs, i < j, sharing at least one band; shape (k, 2).
    ``keys``: the rows' ``band_keys`` when already computed (by the shards' tasks)."""
    n = len(sig)
    keys = band_keys(sig, params) if keys is None else keys
    valid = np.flatnonzero(sig[:, 0] != EMPTY)
    flat_keys, flat_ids = keys[valid].ravel(), np.repeat(valid, keys.shape[1])
    order = np.argsort(flat_keys, kind="stable")
    pairs = _bucket_pairs(flat_keys[order], flat_ids[order])
    low, high = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    codes = np.sort((low * n + high)[low != high].astype(np.int64))
    codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))] if len(codes) else codes
    return np.stack([codes // n, codes % n], axis=1)


def _bucket_pairs(keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """All pairs within runs of equal sorted keys. Small buckets are paired with vectorised
    offset comparisons; the few big ones (many copies of one boilerplate function) one by one,
    all pairs up to _MAX_BUCKET members and a star around the first member beyond that."""
    found = [np.zeros((0, 2), dtype=np.int64)]
    for d in range(1, _SMALL_BUCKET):
        same = keys[d:] == keys[:-d]
        if not same.any():
            return np.concatenate(found)
        found.append(np.stack([ids[:-d][same], ids[d:][same]], axis=1))
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    sizes = np.diff(np.append(starts, len(keys)))
    for start, size in zip(starts[sizes > _SMALL_BUCKET], sizes[sizes > _SMALL_BUCKET]):
        members = ids[start:start + min(size, _MAX_BUCKET)]
        i, j = np.triu_indices(len(members), k=_SMALL_BUCKET)
        found.append(np.stack([members[i], members[j]], axis=1))
        rest = ids[start + len(members):start + size]
        found.append(np.stack([np.full(len(rest), members[0]), rest], axis=1))
    return np.concatenate(found)


def estimated_jaccard(sig: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    if len(pairs) == 0:
        return np.zeros(0)
    return (sig[pairs[:, 0]] == sig[pairs[:, 1]]).mean(axis=1)


def exact_jaccard(texts: Sequence[str], pairs: np.ndarray, size: int) -> np.ndarray:
    """Jaccard of the shingle sets (as 32-bit hashes) of each pair, computed in numpy."""
    if len(pairs) == 0:
        return np.zeros(0)
    docs, local = np.unique(pairs, return_inverse=True)
    local = local.reshape(pairs.shape)
    shingles, owner = shingle_hashes([texts[i] for i in docs], size)
    keys = np.unique((owner.astype(np.uint64) << np.uint64(32)) | shingles.astype(np.uint64))
    key_owner = (keys >> np.uint64(32)).astype(np.int64)
    bounds = np.searchsorted(key_owner, np.arange(len(docs) + 1))
    sizes = np.diff(bounds)
    # For each pair, look every shingle of its second text up among the first text's shingles.
    a, b = local[:, 0], local[:, 1]
    lengths = sizes[b]
    pair_of = np.repeat(np.arange(len(pairs)), lengths)
    starts = np.repeat(bounds[b], lengths) + np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    queries = (a[pair_of].astype(np.uint64) << np.uint64(32)) | (keys[starts] & np.uint64(0xFFFFFFFF))
    where = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    inter = np.bincount(pair_of, weights=keys[where] == queries, minlength=len(pairs))
    union = sizes[a] + sizes[b] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def duplicate_pairs(texts: Sequence[str], params: MinHashParams, sketcher: Sketcher = LOCAL) -> np.ndarray:
    """Pairs (i < j) whose Jaccard similarity is at least ``params.threshold``: estimated from
    the signatures, and computed exactly where the estimate is within 3 sigma of the threshold.
    ``sketcher``: where the shards are sketched (the merge and verification run here)."""
    sketches = sketch_texts(texts, params, sketcher)
    sig, filled = sketches.sig, sketches.filled
    pairs = candidate_pairs(sig, params, sketches.keys)
    est = estimated_jaccard(sig, pairs)
    t = params.threshold
    # A text with m < num_perm shingles fills at most m bins, so its estimate rests on ~m
    # samples: the doubt margin widens for short texts.
    samples = np.minimum(filled[pairs[:, 0]], filled[pairs[:, 1]]) if len(pairs) else np.zeros(0)
    margin = 3 * np.sqrt(t * (1 - t) / np.maximum(samples, 1))
    unsure = np.abs(est - t) < margin
    keep = est >= t
    keep[unsure] = exact_jaccard(texts, pairs[unsure], params.shingle_size) >= t
    return pairs[keep]


def near_duplicates(texts: Sequence[str], params: MinHashParams, sketcher: Sketcher = LOCAL) -> list[int]:
    """For each text, -1 if kept, else the index of an earlier kept text it near-duplicates.

    Greedy in input order: a text is dropped only when it matches a text that was kept, so
    chains (A~B, B~C, A!~C) keep A and C."""
    pairs = duplicate_pairs(texts, params, sketcher)
    neighbours: dict[int, list[int]] = {}
    for i, j in pairs.tolist():
        neighbours.setdefault(j, []).append(i)
    result = [-1] * len(texts)
    for j in sorted(neighbours):
        result[j] = next((i for i in sorted(neighbours[j]) if result[i] == -1), -1)
    return result


def normalized_key(text: str) -> str:
    """Exact-dedup key: sha1 of the text with trailing spaces and blank lines dropped."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return hashlib.sha1("\n".join(l for l in lines if l).encode("utf-8", "surrogatepass")).hexdigest()


class ExactDeduper:
    """Remembers normalised texts seen so far; ``first(text)`` is True the first time only."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def first(self, text: str, ident: str = "") -> bool:
        key = normalized_key(text)
        if key in self.seen:
            return False
        self.seen[key] = ident
        return True

    def original(self, text: str) -> str | None:
        """The ident of the first text with the same key, if any."""
        return self.seen.get(normalized_key(text))


def exact_duplicates(texts: Iterable[str]) -> list[int]:
    """For each text, -1 if first of its kind, else the index of the first equal text."""
    first: dict[str, int] = {}
    out = []
    for i, text in enumerate(texts):
        key = normalized_key(text)
        out.append(first.setdefault(key, i) if key in first else -1)
        first.setdefault(key, i)
    return out
