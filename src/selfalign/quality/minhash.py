"""MinHash sketches for near-dedup (``dedup``): word shingles -> signatures -> LSH band keys.

Everything is computed for a whole batch of texts in numpy instead of one Python object per text:

* tokens and shingles are hashed with a vectorised polynomial hash over the concatenated bytes
  of all texts, so no Python code runs per token;
* signatures use *one-permutation hashing* with densification (Li, Owen & Zhang 2012;
  Shrivastava 2017): each shingle is hashed once and lands in one of ``num_perm`` bins, the
  signature keeps the minimum per bin, and empty bins borrow from another bin. Its collision
  probability per slot equals the Jaccard similarity, like ``num_perm`` independent
  permutations, at O(shingles) instead of O(shingles x num_perm) work.

Why apart from ``dedup``: everything here (signature, filled bins, shingle count, LSH band keys:
``sketch``) depends on one text alone, so the texts can be cut into shards sketched anywhere --
in this process, or as tasks on a cluster (a ``Sketcher``, ``executor/ray_minhash.py``, which
imports only this module) -- and the shards' sketches, concatenated in order, are the whole
set's, row for row. ``dedup`` holds what needs every text's sketch at once (the bucket merge and
the verification). The trade-off: the hash values differ from datasketch's (the decisions agree;
``bench/seeds.py`` measures that against exact Jaccard).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, Sequence

import numpy as np

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_WORD = re.compile(rb"[A-Za-z0-9_\x80-\xff]+")
_SHINGLE_BASE = np.uint64(0x9E3779B97F4A7C15)
EMPTY = np.uint32(0xFFFFFFFF)   # the signature value of a text with no tokens
SHARD_BYTES = 1 << 22   # text per sketched shard: peak memory stays ~40x that


def word_tokens(text: str) -> list[bytes]:
    """The tokens shingles are made of: runs of ASCII letters/digits/_ or non-ASCII bytes."""
    return _WORD.findall(text.encode("utf-8", "surrogatepass"))


def shingle_set(text: str, size: int) -> set[bytes]:
    """Reference shingles (space-joined token n-grams) for exact Jaccard and for datasketch."""
    tokens = word_tokens(text)
    if len(tokens) <= size:
        return {b" ".join(tokens)} if tokens else set()
    return {b" ".join(tokens[i:i + size]) for i in range(len(tokens) - size + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads sums and products so every bit is usable."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


_IS_WORD = np.zeros(256, dtype=bool)
for _lo, _hi in ((48, 57), (65, 90), (97, 122), (95, 95), (128, 255)):
    _IS_WORD[_lo:_hi + 1] = True
# Tabulation hashing: a token's hash is the sum of a random 64-bit value per (position, byte).
_BYTE_TABLE = np.random.default_rng(0x5E1F).integers(0, 2**63, size=(64, 256), dtype=np.uint64) * 2 + 1


def _token_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hash every word token of every text; returns (hashes, owning text index) in text order."""
    blobs = [t.encode("utf-8", "surrogatepass") for t in texts]
    data = np.frombuffer(b"\n".join(blobs) + b"\n", dtype=np.uint8)
    doc_starts = np.cumsum([0] + [len(b) + 1 for b in blobs[:-1]]) if blobs else np.zeros(0, np.int64)
    is_word = _IS_WORD[data]
    edges = np.diff(is_word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = ends - starts
    if len(starts) == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths           # each token's first byte among word bytes
    pos = np.arange(int(lengths.sum())) - np.repeat(offsets, lengths)
    values = _BYTE_TABLE[np.minimum(pos, 63), data[is_word]]
    with np.errstate(over="ignore"):
        hashes = _mix64(np.add.reduceat(values, offsets) + lengths.astype(np.uint64))
    return hashes, np.searchsorted(doc_starts, starts, side="right") - 1


def shingle_hashes(texts: Sequence[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit shingle hashes and their text index; a text shorter than ``size`` is one shingle."""
    tokens, owner = _token_hashes(texts)
    n = len(tokens)
    counts = np.bincount(owner, minlength=len(texts))
    windows = max(n - size + 1, 0)   # 0 for fewer tokens than size: slices must stay empty then
    with np.errstate(over="ignore"):
        acc = np.zeros(windows, dtype=np.uint64)
        for k in range(size):                       # polynomial over the window's token hashes
            acc = acc * _SHINGLE_BASE + tokens[k:k + windows]
    full = owner[: len(acc)] == owner[size - 1:] if len(acc) else np.zeros(0, dtype=bool)
    hashes, owners = [_mix64(acc[full])], [owner[: len(acc)][full]]
    short = np.flatnonzero((counts > 0) & (counts < size))
    if len(short):                                  # whole-text shingle for short texts
        first = np.concatenate(([0], np.cumsum(counts)))[short]
        with np.errstate(over="ignore"):
            whole = np.zeros(len(short), dtype=np.uint64)
            for k in range(size - 1):
                take = k < counts[short]
                whole = np.where(take, whole * _SHINGLE_BASE + tokens[np.minimum(first + k, n - 1)], whole)
        hashes.append(_mix64(whole))
        owners.append(short)
    return (np.concatenate(hashes) >> np.uint64(32)).astype(np.uint32), np.concatenate(owners)


@dataclass(frozen=True)
class MinHashParams:
    num_perm: int = 128
    shingle_size: int = 5
    threshold: float = 0.5
    seed: int = 1
    # LSH is tuned to miss few pairs (false negatives weigh this much more than false
    # positives): the extra candidates cost little, because every candidate is verified.
    fn_weight: float = 4.0


@dataclass(frozen=True)
class Sketches:
    """What near-dedup keeps of each text, one row per text, each row computed from its own text."""

    sig: np.ndarray        # (n, num_perm) uint32 densified signatures; all EMPTY: no tokens
    filled: np.ndarray     # (n,) bins the text's shingles filled before densification
    shingles: np.ndarray   # (n,) how many shingles the text has, at least 1
    keys: np.ndarray       # (n, bands) uint64 LSH band keys

    def __len__(self) -> int:
        return len(self.sig)

    @staticmethod
    def concat(parts: Sequence["Sketches"], params: MinHashParams) -> "Sketches":
        """The sketches of the shards' texts, in the order of ``parts``."""
        if not parts:
            return sketch([], params)
        return Sketches(*(np.concatenate([getattr(p, name) for p in parts])
                          for name in ("sig", "filled", "shingles", "keys")))


class Sketcher(Protocol):
    """Where shards are sketched: ``submit`` starts one (and may return before it is done),
    ``gather`` returns the sketches of the given handles in the order of the handles.
    ``shard_bytes``: how much text ``sketch_texts`` puts in one shard."""

    shard_bytes: int

    def submit(self, texts: Sequence[str], params: MinHashParams) -> Any: ...

    def gather(self, handles: Sequence[Any]) -> list[Sketches]: ...


@dataclass(frozen=True)
class LocalSketcher:
    """Sketches each shard in this process as it is submitted."""

    shard_bytes: int = SHARD_BYTES

    def submit(self, texts: Sequence[str], params: MinHashParams) -> Sketches:
        return sketch(texts, params)

    def gather(self, handles: Sequence[Sketches]) -> list[Sketches]:
        return list(handles)


LOCAL = LocalSketcher()


def signatures(texts: Sequence[str], params: MinHashParams, chunk_bytes: int = SHARD_BYTES) -> np.ndarray:
    """One-permutation MinHash signatures, shape (len(texts), num_perm), dtype uint32.

    A text with no tokens gets an all-EMPTY signature and never matches anything. Texts are
    processed in chunks of about ``chunk_bytes`` so peak memory stays ~40x that."""
    return sketch_texts(texts, params, LocalSketcher(chunk_bytes)).sig


def sketch_texts(texts: Sequence[str], params: MinHashParams, sketcher: Sketcher = LOCAL) -> Sketches:
    """The texts' sketches, cut into shards of about ``sketcher.shard_bytes`` of text each."""
    handles, start, size = [], 0, 0
    for i, text in enumerate(texts):
        size += len(text)
        if size >= sketcher.shard_bytes or i == len(texts) - 1:
            handles.append(sketcher.submit(texts[start:i + 1], params))
            start, size = i + 1, 0
    return Sketches.concat(sketcher.gather(handles), params)


def sketch(texts: Sequence[str], params: MinHashParams) -> Sketches:
    """One shard's sketches, in one numpy pass over its texts (a cluster runs this as a task)."""
    shingles, owner = shingle_hashes(texts, params.shingle_size)
    sig, filled = _signatures(shingles, owner, len(texts), params)
    counts = np.maximum(np.bincount(owner, minlength=len(texts)), 1)
    return Sketches(sig, filled, counts, band_keys(sig, params))


def _salted(shingles: np.ndarray, seed: int) -> np.ndarray:
    salt = np.uint64(int.from_bytes(hashlib.sha256(str(seed).encode()).digest()[:8], "little"))
    return _mix64(shingles.astype(np.uint64) ^ salt)


def _signatures(shingles: np.ndarray, owner: np.ndarray, n: int,
                params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    """Densified signatures of ``n`` texts from their shingle hashes, and per text how many
    bins its shingles filled before densification."""
    p = params.num_perm
    h = _salted(shingles, params.seed)
    bins = (h % np.uint64(p)).astype(np.int64)
    values = (h >> np.uint64(32)).astype(np.uint32)
    values[values == EMPTY] -= np.uint32(1)
    sig = np.full(n * p, EMPTY, dtype=np.uint32)
    np.minimum.at(sig, owner * p + bins, values)
    sig = sig.reshape(n, p)
    return _densify(sig), (sig != EMPTY).sum(axis=1)


def _densify(sig: np.ndarray) -> np.ndarray:
    """Fill each empty bin from the next non-empty bin to its right (circularly), tagged with
    the distance, so that two texts agree on a filled bin only if they agree on its donor."""
    n, p = sig.shape
    if n == 0:
        return sig
    doubled = np.concatenate([sig, sig], axis=1)
    idx = np.where(doubled != EMPTY, np.arange(2 * p), 2 * p)
    donor = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1][:, :p]
    has_any = donor[:, 0] < 2 * p
    donor = np.where(has_any[:, None], donor, np.arange(p))
    dist = (donor - np.arange(p)).astype(np.uint32)
    with np.errstate(over="ignore"):
        filled = np.take_along_axis(doubled, donor, axis=1) + dist * np.uint32(0x9E3779B1)
    return np.where(has_any[:, None], filled, EMPTY).astype(np.uint32)


@lru_cache(maxsize=32)
def lsh_params(threshold: float, num_perm: int, fn_weight: float = 1.0) -> tuple[int, int]:
    """Bands x rows minimising false positives + fn_weight x false negatives around the
    threshold (the standard S-curve integral, evaluated numerically)."""
    combos = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)])
    bands, rows = combos[:, :1].astype(float), combos[:, 1:].astype(float)
    xs = np.linspace(0.0, 1.0, 201)
    prob = 1 - (1 - xs ** rows) ** bands                       # (combos, xs): P(candidate | J = x)
    fp = np.trapezoid(np.where(xs < threshold, prob, 0), xs, axis=1)
    fn = np.trapezoid(np.where(xs >= threshold, 1 - prob, 0), xs, axis=1)
    best = combos[int(np.argmin(fp + fn_weight * fn))]
    return int(best[0]), int(best[1])


def band_keys(sig: np.ndarray, params: MinHashParams) -> np.ndarray:
    """LSH band keys, shape (n, bands), uint64: a hash of each band's rows and its number."""
    bands, rows = lsh_params(params.threshold, sig.shape[1], params.fn_weight)
    block = sig[:, :bands * rows].reshape(len(sig), bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        keys = np.broadcast_to(np.arange(bands, dtype=np.uint64) * _SHINGLE_BASE, (len(sig), bands))
        for r in range(rows):
            keys = _mix64(keys + block[:, :, r])
    return keys
