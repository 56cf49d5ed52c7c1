"""MinHash near-dedup over texts kept on disk, and the choice of which near-duplicate to keep.

The hashing is ``selfalign.quality.minhash``'s, the LSH banding and verification
``selfalign.quality.dedup``'s (the seed miner's); this module only arranges them for curation's
sizes: ``SignatureStore`` accumulates sketches (signatures, band keys) chunk by chunk in numpy
arrays (the texts themselves stay on disk), each chunk sketched by the run's ``Sketcher`` -- in
this process, or as a Ray task while the next chunk is read -- and merged in the order it was
added; ``near_pairs`` verifies LSH candidates on the signatures and, where the estimate is
within 3 sigma of the threshold, on the exact shingle sets of the few texts involved (fetched
back by index). ``keep_first`` is the usual greedy rule; ``keep_diverse`` keeps, in each group
of near-duplicates, the member whose function name has been kept least often so far, so the
dataset does not fill up with one common name (``fibonacci``) while a near-identical answer with
a rarer name is dropped.

The trade-off: ~1.2 KB of sketch per text in memory (250 uint32, ~30 band keys), none of the texts.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Callable, Sequence

import numpy as np

from selfalign.quality.dedup import candidate_pairs, estimated_jaccard, exact_jaccard
from selfalign.quality.minhash import LOCAL, MinHashParams, Sketcher, Sketches

PAIR_CHUNK = 8192
_NAME = re.compile(r"^(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)", re.MULTILINE)


def function_name(code: str) -> str:
    """The first top-level function or class name of the code ('' if none)."""
    found = _NAME.search(code)
    return found.group(1) if found else ""


class SignatureStore:
    """The sketches of texts added in chunks, each chunk handed to ``sketcher`` as it comes."""

    def __init__(self, params: MinHashParams, sketcher: Sketcher = LOCAL) -> None:
        self.params, self.sketcher = params, sketcher
        self._size = 0
        self._pending: list[Any] = []     # handles of chunks not gathered yet
        self._sketches = Sketches.concat([], params)

    def add(self, texts: Sequence[str]) -> None:
        if texts:
            self._pending.append(self.sketcher.submit(texts, self.params))
            self._size += len(texts)

    def __len__(self) -> int:
        return self._size

    @property
    def sketches(self) -> Sketches:
        if self._pending:
            parts = [self._sketches, *self.sketcher.gather(self._pending)]
            self._sketches, self._pending = Sketches.concat(parts, self.params), []
        return self._sketches


def near_pairs(store: SignatureStore, members: np.ndarray,
               fetch: Callable[[Sequence[int]], list[str]]) -> np.ndarray:
    """Pairs (a, b), a < b, of positions in ``members`` (indices into the store) whose Jaccard
    reaches the threshold; ``fetch(indices)`` returns the texts of store indices."""
    params = store.params
    if len(members) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    sketches = store.sketches
    sig, counts = sketches.sig[members], sketches.shingles[members]
    pairs = candidate_pairs(sig, params, sketches.keys[members])
    # In slices: estimated_jaccard gathers two signatures per pair (2 KB), and short templated
    # texts can make candidates number in the hundreds of thousands.
    est = np.concatenate([estimated_jaccard(sig, pairs[i:i + PAIR_CHUNK])
                          for i in range(0, len(pairs), PAIR_CHUNK)] or [np.zeros(0)])
    t = params.threshold
    samples = np.minimum(np.minimum(counts[pairs[:, 0]], counts[pairs[:, 1]]), params.num_perm) \
        if len(pairs) else np.zeros(0)
    unsure = np.abs(est - t) < 3 * np.sqrt(t * (1 - t) / np.maximum(samples, 1))
    keep = est >= t
    if unsure.any():
        docs, local = np.unique(pairs[unsure], return_inverse=True)
        texts = fetch([int(members[d]) for d in docs])
        keep[unsure] = exact_jaccard(texts, local.reshape(-1, 2), params.shingle_size) >= t
    return pairs[keep]


def _neighbours(n: int, pairs: np.ndarray) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(n)]
    for a, b in pairs.tolist():
        out[a].append(b)
        out[b].append(a)
    return out


def keep_first(n: int, pairs: np.ndarray) -> list[int]:
    """For each position: -1 if kept, else the earlier kept position it near-duplicates."""
    later: list[list[int]] = [[] for _ in range(n)]
    for a, b in pairs.tolist():
        later[max(a, b)].append(min(a, b))
    result = [-1] * n
    for j in range(n):
        result[j] = next((i for i in sorted(later[j]) if result[i] == -1), -1)
    return result


def keep_diverse(names: Sequence[str], pairs: np.ndarray) -> list[int]:
    """Like ``keep_first``, but in each group (the first undecided text and its undecided
    near-duplicates) keep the one whose name has been kept least so far, then the rarest
    overall, then the first; the others are dropped as near-duplicates of it."""
    n = len(names)
    neighbours = _neighbours(n, pairs)
    overall, kept = Counter(names), Counter()
    undecided = -2
    result = [undecided] * n
    for i in range(n):
        if result[i] != undecided:
            continue
        group = [i] + [j for j in neighbours[i] if result[j] == undecided]
        keeper = min(group, key=lambda k: (kept[names[k]], overall[names[k]], k))
        result[keeper] = -1
        kept[names[keeper]] += 1
        for j in neighbours[keeper]:
            if result[j] == undecided:
                result[j] = keeper
    return result
