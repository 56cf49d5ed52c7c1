"""MinHash near-dedup checked against exact Jaccard (the reference), and exact dedup."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from selfalign.quality.dedup import (ExactDeduper, candidate_pairs, duplicate_pairs, estimated_jaccard,
                                    exact_duplicates, exact_jaccard, near_duplicates)
from selfalign.quality.minhash import (LocalSketcher, MinHashParams, shingle_hashes, jaccard, shingle_set,
                                      signatures, sketch, sketch_texts, word_tokens)


def corpus(seed: int = 0, groups: int = 60, per_group: int = 4) -> list[str]:
    """Groups of edited copies of random 'code' with Jaccard spread over the whole range."""
    rng = random.Random(seed)
    vocab = [f"name{i}" for i in range(400)] + ["def", "return", "for", "in", "if", "x", "self"]
    texts = []
    for _ in range(groups):
        base = [rng.choice(vocab) for _ in range(rng.randint(3, 200))]
        for _ in range(per_group):
            edited = list(base)
            for _ in range(rng.randint(0, max(1, len(base) // 12))):
                edited[rng.randrange(len(edited))] = rng.choice(vocab)
            texts.append(" ".join(edited) if rng.random() < 0.5 else "(".join(edited))
    return texts


def mixed_texts() -> list[str]:
    """``corpus`` shuffled among short, empty, non-ASCII and repeated texts."""
    extras = ["", "x", "  ", "def f(): pass", "é ü naïve straße", "return x", "\ud800 lone surrogate"]
    texts = corpus(3, groups=40) + extras * 2
    random.Random(0).shuffle(texts)
    return texts


def exact_pairs(texts: list[str], params: MinHashParams) -> set[tuple[int, int]]:
    sets = [shingle_set(t, params.shingle_size) for t in texts]
    return {(i, j) for i, j in itertools.combinations(range(len(texts)), 2)
            if sets[i] and sets[j] and jaccard(sets[i], sets[j]) >= params.threshold}


def test_vectorised_shingles_match_the_reference_shingles():
    texts = ["a b c d e f g", "x", "", "  ", "é ü naïve straße def f(x): return x+1", "a a a a a a a a",
             "one two three", "def f(a, b):\n    return a * b  # times\n"]
    for size in (1, 3, 5):
        hashes, owner = shingle_hashes(texts, size)
        for i, text in enumerate(texts):
            assert len(set(hashes[owner == i].tolist())) == len(shingle_set(text, size)), (text, size)


def test_shingle_counts_match_the_reference_tokens():
    texts = mixed_texts()
    assert sketch(texts, MinHashParams()).shingles.tolist() == [max(1, len(word_tokens(t)) - 4) for t in texts]


def test_equal_tokens_hash_equal_across_texts_and_positions():
    hashes, owner = shingle_hashes(["alpha beta gamma", "zeta alpha beta gamma"], 3)
    assert set(hashes[owner == 0].tolist()) <= set(hashes[owner == 1].tolist())


@pytest.mark.parametrize("num_perm,threshold", [(128, 0.5), (250, 0.7)])
def test_estimates_track_exact_jaccard(num_perm, threshold):
    params = MinHashParams(num_perm=num_perm, threshold=threshold)
    texts = [t for t in corpus(1) if len(t.split()) > 60 or "(" in t]
    pairs = np.array([(i, i + 1) for i in range(0, len(texts) - 1)])
    exact = np.array([jaccard(shingle_set(texts[i], 5), shingle_set(texts[j], 5)) for i, j in pairs])
    est = estimated_jaccard(signatures(texts, params), pairs)
    assert np.abs(est - exact).mean() < 0.06
    assert abs((est - exact).mean()) < 0.02            # no bias
    assert np.allclose(exact_jaccard(texts, pairs, 5), exact, atol=1e-9)


@pytest.mark.parametrize("num_perm,threshold", [(128, 0.5), (250, 0.7), (64, 0.3)])
def test_duplicate_pairs_agree_with_exact_jaccard(num_perm, threshold):
    params = MinHashParams(num_perm=num_perm, threshold=threshold)
    texts = corpus(2)
    truth = exact_pairs(texts, params)
    found = {tuple(p) for p in duplicate_pairs(texts, params).tolist()}
    assert len(truth) > 50
    assert len(found & truth) / len(found | truth) >= 0.95


def test_candidates_include_every_copy_of_a_big_bucket():
    texts = ["def same(x): return x + 1 and more words here"] * 300 + ["something else entirely different ok"]
    pairs = candidate_pairs(signatures(texts, MinHashParams()), MinHashParams())
    assert len(pairs) == 300 * 299 // 2


def test_a_batch_of_fewer_tokens_than_one_shingle():
    """Fewer tokens than ``shingle_size`` in the whole batch (one short text; a shard of one)."""
    assert near_duplicates(["def f(): pass"], MinHashParams()) == [-1]
    assert near_duplicates(["f x", "f x"], MinHashParams()) == [-1, 0]


@pytest.mark.parametrize("shard_bytes", [1, 700, 10_000])
def test_sharded_sketches_and_dedup_equal_the_whole_batch(shard_bytes):
    """Shards of one text, of a few texts and of many: every row is the one-batch row, so the
    merge keeps the same texts (a cluster's tasks run ``sketch`` on such shards)."""
    texts, params = mixed_texts(), MinHashParams(threshold=0.7)
    whole, sharded = sketch(texts, params), sketch_texts(texts, params, LocalSketcher(shard_bytes))
    for name in ("sig", "filled", "shingles", "keys"):
        assert np.array_equal(getattr(sharded, name), getattr(whole, name)), name
    kept = near_duplicates(texts, params, LocalSketcher(shard_bytes))
    assert kept == near_duplicates(texts, params) and sum(k >= 0 for k in kept) > 20


class OutOfOrder(LocalSketcher):
    """Merges the shards last first, as a merge in order of completion could."""

    def gather(self, handles):
        return super().gather(handles)[::-1]


def test_a_merge_out_of_shard_order_is_caught():
    texts, params = mixed_texts(), MinHashParams(threshold=0.7)
    assert near_duplicates(texts, params, OutOfOrder(700)) != near_duplicates(texts, params)


def test_near_duplicates_keep_the_first_and_point_to_it():
    words = [f"w{i}" for i in range(40)]
    a = " ".join(words)
    b = " ".join(words[:36] + ["x1", "x2", "x3", "x4"])            # J(a, b) ~ 0.8
    c = " ".join(words[20:] + [f"y{i}" for i in range(20)])           # J(a, c) ~ 0.3
    empty = ""
    assert near_duplicates([a, c, b, empty, empty], MinHashParams(threshold=0.7)) == [-1, -1, 0, -1, -1]


def test_chains_keep_both_ends():
    words = [f"w{i}" for i in range(60)]
    a, b, c = (" ".join(words[k:k + 40]) for k in (0, 6, 12))     # a~b, b~c, a!~c at 0.7
    assert near_duplicates([a, b, c], MinHashParams(threshold=0.7)) == [-1, 0, -1]


def test_exact_dedup_ignores_trailing_space_and_blank_lines():
    d = ExactDeduper()
    assert d.first("def f():\n    return 1\n", "a")
    assert not d.first("def f():   \n\n    return 1", "b")
    assert d.original("def f():\n    return 1") == "a"
    assert d.first("def f():\n    return 2\n", "c")
    assert exact_duplicates(["x", "y", "x ", "y", "z"]) == [-1, -1, 0, 1, -1]
