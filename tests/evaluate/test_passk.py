"""pass@k against brute-force enumeration of every k-subset."""

from __future__ import annotations

import itertools
import math

import pytest

from selfalign.evaluate.passk import mean_pass_at_k, pass_at_k


def brute_force(n: int, c: int, k: int) -> float:
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_matches_brute_force(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)


def test_large_n_is_stable_and_matches_exact_binomials():
    n, c, k = 200, 13, 100
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-12)
    assert pass_at_k(1000, 0, 1) == 0.0 and pass_at_k(1000, 1000, 10) == 1.0


def test_pass_at_1_is_the_fraction_correct():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert mean_pass_at_k([(1, 1), (1, 0), (2, 1)], 1) == pytest.approx((1 + 0 + 0.5) / 3)


def test_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError, match="at least 10 samples"):
        pass_at_k(5, 1, 10)
