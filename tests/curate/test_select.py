"""Selection on literal candidates: preferences, order independence, the ablations' size."""

from __future__ import annotations

from selfalign.curate.select import Candidate, choose, ordered


def _group(n: int, tag: str = "") -> list[Candidate]:
    return [Candidate(index=k, id=f"{tag}r{k}", length=100 - 10 * k, asserts=k % 3) for k in range(n)]


def test_preferences():
    group = _group(5)
    assert ordered("i1", group, "shortest", 0)[0].id == "r4"              # length 60
    assert ordered("i1", group, "most_asserts", 0)[0].id == "r2"          # 2 asserts, shorter than r5
    draws = {ordered("i1", group, "random", seed)[0].id for seed in range(40)}
    assert len(draws) > 2                                                 # the seed matters


def test_choice_is_seeded_and_independent_of_order():
    groups = {f"i{i}": _group(4, f"i{i}") for i in range(6)}
    shuffled = {k: list(reversed(v)) for k, v in reversed(list(groups.items()))}
    for prefer in ("random", "shortest", "most_asserts"):
        assert choose(groups, prefer, 7) == choose(shuffled, prefer, 7)
    assert [c.id[:2] for c in choose(groups, "random", 7)] == [f"i{i}" for i in range(6)]   # one each


def test_ablation_size_is_exact_while_the_pool_allows():
    groups = {f"i{i}": _group(3, f"i{i}") for i in range(4)}
    assert len(choose(groups, "random", 0, size=2, policy="random")) == 2
    four = choose(groups, "random", 0, size=4, policy="random")
    assert len({c.id[:2] for c in four}) == 4                            # one per instruction first
    ten = choose(groups, "random", 0, size=10, policy="failing")         # then second rounds
    assert len(ten) == 10 and len({c.id for c in ten}) == 10
    assert len(choose(groups, "random", 0, size=50, policy="failing")) == 12   # the pool runs out
    assert choose(groups, "random", 0, size=3, policy="random") != choose(groups, "random", 1, size=3, policy="random")
