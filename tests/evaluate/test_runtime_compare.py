"""The runner's pure parts: typed JSON round trips, digests, and the host's EvalPlus comparison."""

from __future__ import annotations

import math

import pytest

from selfalign.evaluate.plain_data import NotPlain, decode, digest, encode, small
from selfalign.evaluate.runtime import same_output
from selfalign.evaluate.score import all_close, matches


@pytest.mark.parametrize("value", [
    None, True, 3, 2 ** 80, 1.5, float("inf"), "s", [1, (2, 3)], (), {1, 2}, frozenset({"a"}),
    {1: "a", (2, 3): [4]}, b"\x00\xff", 1 + 2j, [{"k": {3}}]])
def test_typed_json_round_trips(value):
    assert decode(encode(value)) == value
    assert type(decode(encode(value))) is type(value)


def test_nan_survives_and_a_references_other_types_compare_by_repr():
    assert math.isnan(decode(encode(float("nan"))))
    opaque = decode(encode(range(3), strict=False), ("~r",))
    assert opaque == range(3) and not opaque == range(4)
    with pytest.raises(ValueError):
        decode(encode(range(3), strict=False))        # never from a candidate


class Int(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


@pytest.mark.parametrize("value", [Int(1), [1, Int(2)], {"k": (Int(3),)}, range(2), [object()]])
def test_only_exact_builtin_types_are_plain_data(value):
    with pytest.raises(NotPlain):
        encode(value)
    with pytest.raises(NotPlain):
        digest(value if isinstance(value, list) else [value] * 5000)


def test_stdlib_dict_types_become_dicts():
    import collections

    assert decode(encode(collections.Counter("aab"))) == {"a": 2, "b": 1}
    assert type(decode(encode(collections.OrderedDict(a=1)))) is dict


@pytest.mark.parametrize("a, b", [([1, 2], [1.0, 2.0]), ([True, 0], [1, 0.0]), ({1, 2}, frozenset({1, 2})),
                                  ({1: "a"}, {1.0: "a"}), ([(1, "a")] * 3000, [(1.0, "a")] * 3000),
                                  ([[1]] * 5000, [[1.0]] * 5000), ([(1, None)] * 3000, [(True, None)] * 3000),
                                  (18 * 10 ** 5000, 18 * 10 ** 5000), (5, 5.0 + 0j), ("x" * 5000, "x" * 5000)],
                         ids=range(10))
def test_digests_and_sizes_agree_for_equal_values(a, b):
    """Equal values get one digest and one transport decision, so a right candidate's big output
    matches the reference's whichever numeric types it used."""
    assert a == b and digest(a) == digest(b) and small(a) == small(b)


@pytest.mark.parametrize("a, b", [([1, 2], (1, 2)), ([1] * 5000, [1] * 4999 + [2]), ("a", b"a"),
                                  ([(1,)] * 3000, [[1]] * 3000), ({1: "a"}, {1: "b"}), ([None] * 9000, [0] * 9000)],
                         ids=range(6))
def test_digests_differ_for_different_values(a, b):
    assert a != b and digest(a) != digest(b)


def test_floats_get_a_tolerance_but_types_must_agree():
    assert matches(0.1 + 0.2, 0.3, [], 0, "")
    assert not matches(0.31, 0.3, [], 0, "")
    assert matches([1.0, 2.0000000001], [1.0, 2.0], [], 0, "")
    assert not matches((1.0, 2.0000001), [1.0, 2.0], [], 1e-6, "")
    assert not all_close([1.0], [1.0, 2.0], 1e-6)
    assert matches(2, 2.0, [], 0, "") and not matches("2", 2, [], 0, "")


def test_special_oracles():
    xs = [-6.0, 11.0, -6.0, 1.0]                      # (x-1)(x-2)(x-3)
    assert matches(2.0, 1.0, [xs], 1e-4, "find_zero")  # another root than the reference's
    assert not matches(2.5, 1.0, [xs], 1e-4, "find_zero")
    assert matches(True, "<re.Match object>", [], 0, "not_none")
    assert not matches(False, "<re.Match object>", [], 0, "not_none")
    assert matches(0, 5, [], 0, "zero_ok") and not matches(1, 5, [], 0, "zero_ok")


def test_set_oracle_ignores_order_duplicates_and_collection_type():
    """EvalPlus compares the MBPP+ tasks of MBPP_OUTPUT_SET_EQ_TASKS as ``set(out) == set(exp)``."""
    assert matches({4, 5}, (4, 5), [], 0, "set_eq") and matches([5, 4, 4], (4, 5), [], 0, "set_eq")
    assert not matches({4, 6}, (4, 5), [], 0, "set_eq") and not matches({4}, (4, 5), [], 0, "set_eq")
    assert not matches({4, 5}, (4, 5), [], 0, "")            # other tasks: still exact
    with pytest.raises(TypeError):                            # unhashable items: a failure
        matches([[4], [5]], (4, 5), [], 0, "set_eq")
    assert not same_output_host({"~l": [[4], [5]]}, {"v": {"~t": [4, 5]}}, "set_eq")
    assert matches([1.0, 2.0000000001], [1.0, 2.0], [], 0, "set_eq")   # float lists: allclose after


def same_output_host(out, expected, oracle):
    from selfalign.evaluate.score import same_output as host_same_output
    return host_same_output(out, expected, [], 0.0, oracle)


def test_surface_area_and_digit_distance_accept_the_other_reading():
    """Mbpp/581: the height read as the apex height (35 for edge 3, height 4; the reference
    reads it as the slant height: 33); Mbpp/558: the shorter number zero-padded (123, 45: 5; the
    reference zips the digits: 6)."""
    assert matches(33, 33, [3, 4], 0, "surface_area") and matches(35, 33, [3, 4], 0, "surface_area")
    assert not matches(34, 33, [3, 4], 0, "surface_area") and not matches(35, 33, [3, 4], 0, "")
    assert matches(5, 6, [123, 45], 0, "digit_distance") and matches(6, 6, [123, 45], 0, "digit_distance")
    assert not matches(4, 6, [123, 45], 0, "digit_distance") and not matches(5, 6, [123, 45], 0, "")


def test_stdout_comparison_like_livecodebench():
    assert same_output("3\n", "3")
    assert same_output("1 2  \n3.0\n\n", "1 2\n3")
    assert not same_output("1 2\n", "1 2\n3")
    assert not same_output("yes", "no")


def test_small_stops_early_on_big_values():
    assert small([1, 2, 3]) and not small(list(range(10 ** 6)))
    assert not small("x" * 5000)


def test_string_sequences_are_marked_for_a_fixed_hash_seed():
    from selfalign.evaluate.runtime import order_may_follow_hash

    assert order_may_follow_hash(("b", "a")) and order_may_follow_hash([[1, "x"], [2, "y"]])
    assert not order_may_follow_hash(["only"]) and not order_may_follow_hash((3, 1, 2))
    assert not order_may_follow_hash("a string")


def test_test_limits_count_cpu_time_and_end_waiting_code_by_the_wall_backstop():
    """A spinning call ends after about its CPU limit (or, when the machine starves it of CPU, at
    the wall backstop first); a sleeping one (no CPU) after the wall backstop; and neither timer
    is left running afterwards."""
    import signal
    import time

    from selfalign.evaluate.runtime import TestTimeout, call_limited, wall_limit

    def spin():
        while True:
            pass

    cpu, wall = time.process_time(), time.perf_counter()
    with pytest.raises(TestTimeout):
        call_limited(spin, (), 0.2)
    spent_cpu, spent_wall = time.process_time() - cpu, time.perf_counter() - wall
    # ITIMER_PROF counts tick-sampled CPU time, which on a loaded VM runs ahead of the exact clock
    assert spent_cpu < 0.5 and (spent_cpu >= 0.12 or spent_wall >= wall_limit(0.2) - 0.05)
    wall = time.perf_counter()
    with pytest.raises(TestTimeout):
        call_limited(time.sleep, (30,), 0.05)
    assert wall_limit(0.05) - 0.05 <= time.perf_counter() - wall < wall_limit(0.05) + 1.0
    assert call_limited(sum, ([1, 2, 3],), 0.05) == 6
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
