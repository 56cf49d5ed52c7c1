"""ServerPool's choices without HTTP: load relative to slots, backoff, half-open probes, giving up."""

from __future__ import annotations

import threading
import time

import pytest

from selfalign.llm.server_pool import PoolDown, ServerPool


def test_the_least_loaded_server_relative_to_its_slots_takes_the_next_try():
    pool = ServerPool(["a", "b"], [1, 3], give_up_after=3, backoff=lambda failures, after: 0.0)
    taken = [pool.acquire().url for _ in range(4)]
    assert sorted(taken) == ["a", "b", "b", "b"]       # every slot filled, none over
    assert [s.in_flight for s in pool.servers] == [1, 3]


def test_a_failed_server_rests_then_gets_one_probe_at_a_time():
    pool = ServerPool(["a", "b"], [4, 4], give_up_after=3, backoff=lambda failures, after: 0.2)
    a, b = pool.servers
    pool.release(pool.acquire(), failure="HTTP 500")  # ties go in turn: "a" first
    assert a.failures == 1 and a.last_failure == "HTTP 500"
    assert {pool.acquire().url for _ in range(4)} == {"b"}  # "a" is down: all to "b"
    time.sleep(0.25)
    for _ in range(4):
        pool.release(b)
    assert [pool.acquire().url for _ in range(3)].count("a") == 1  # half-open: one probe
    pool.release(a)                                   # the probe succeeded: up again
    assert a.failures == 0 and a.free_slots(time.monotonic()) == 4


def test_every_server_failing_in_a_row_gives_up_and_a_new_call_rearms():
    pool = ServerPool(["a", "b"], [2, 2], give_up_after=2, backoff=lambda failures, after: 0.0)
    for _ in range(4):
        pool.release(pool.acquire(), failure="refused")
    with pytest.raises(PoolDown):
        pool.acquire()
    assert "a: 2 failed tries in a row, last: refused" in pool.report("")
    pool.rearm()
    assert pool.acquire().url in ("a", "b")           # one more try each


def test_a_waiting_try_takes_the_first_server_that_comes_back():
    pool = ServerPool(["a"], [1], give_up_after=5, backoff=lambda failures, after: after or 0.0)
    pool.release(pool.acquire(), failure="HTTP 429", retry_after=0.3)   # Retry-After: 0.3 s
    got: list[str] = []
    start = time.monotonic()
    waiter = threading.Thread(target=lambda: got.append(pool.acquire().url))
    waiter.start()
    waiter.join(5)
    assert got == ["a"] and 0.25 <= time.monotonic() - start < 2
