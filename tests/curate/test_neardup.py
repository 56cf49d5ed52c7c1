"""Near-dedup over stored signatures: against exact Jaccard, and the diverse-name choice."""

from __future__ import annotations

import random

import numpy as np

from selfalign.curate.neardup import SignatureStore, function_name, keep_diverse, keep_first, near_pairs
from selfalign.quality.minhash import MinHashParams, jaccard, shingle_set


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(300)]
    base = [" ".join(rng.choice(vocab) for _ in range(60)) for _ in range(n // 2)]
    edited = []
    for text in base:                                 # a copy with 0..12 words changed
        words = text.split()
        for _ in range(rng.randint(0, 12)):
            words[rng.randrange(len(words))] = rng.choice(vocab)
        edited.append(" ".join(words))
    return base + edited


def test_near_pairs_agree_with_exact_jaccard():
    texts = _texts(200)
    params = MinHashParams(num_perm=250, shingle_size=5, threshold=0.7, seed=3)
    store = SignatureStore(params)
    for start in range(0, len(texts), 64):            # added in chunks, as curation does
        store.add(texts[start:start + 64])
    found = {tuple(p) for p in near_pairs(store, np.arange(len(texts)), lambda idx: [texts[i] for i in idx]).tolist()}
    shingles = [shingle_set(t, 5) for t in texts]
    truth = {(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts))
             if jaccard(shingles[i], shingles[j]) >= 0.7}
    assert truth and len(found ^ truth) <= max(2, len(truth) // 50)


def test_a_store_fed_in_chunks_finds_the_pairs_of_one_fed_at_once():
    """Chunks are sketched as they come (on a cluster: as tasks) and merged in the order added."""
    texts = _texts(200) + ["", "x", "def f(): pass"] * 2
    params = MinHashParams(num_perm=250, shingle_size=5, threshold=0.7, seed=3)
    whole, chunked = SignatureStore(params), SignatureStore(params)
    whole.add(texts)
    for start in range(0, len(texts), 7):
        chunked.add(texts[start:start + 7])
    members = np.array(random.Random(1).sample(range(len(texts)), 180))   # in another order, as by id
    fetch = lambda idx: [texts[i] for i in idx]   # noqa: E731
    found = near_pairs(chunked, members, fetch)
    assert len(chunked) == len(texts) and len(found) > 10
    assert np.array_equal(found, near_pairs(whole, members, fetch))


def test_keep_diverse_keeps_the_rarer_name_of_a_group():
    names = ["fib", "fib", "fib", "fibonacci_sequence"]
    pairs = np.array([[1, 2], [1, 3], [2, 3]])        # 1, 2 and 3 are near-duplicates; 0 stands alone
    assert keep_first(4, pairs) == [-1, -1, 1, 1]
    assert keep_diverse(names, pairs) == [-1, 3, 3, -1]    # fib is kept already: keep the rare name


def test_function_name():
    assert function_name("import re\n\nclass Parser:\n    pass\ndef parse(x):\n    return x") == "Parser"
    assert function_name("async def fetch(url):\n    return url") == "fetch"
    assert function_name("x = 1") == ""
