"""The openai backend over several servers: load balancing, failover, one identity for a list.

Every test runs real HTTP servers on loopback (``servers.FakeOpenAIServer``), some of them closed,
failing or serving another model."""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest
from servers import FakeOpenAIServer, fake_completion

from selfalign.cache import CachedLLM
from selfalign.llm import resolve_model
from selfalign.llm.base import LLMError, Request, SamplingParams
from selfalign.llm.fingerprint import digest
from selfalign.llm.openai import OpenAILLM, OpenAIOptions, server_urls

FAST = dict(backoff=0.01, max_backoff=5.0, timeout=1.0)


def pool(*urls: str, **options: object) -> OpenAILLM:
    return OpenAILLM(",".join(urls), OpenAIOptions(**{**FAST, **options}))


def seeded(count: int) -> list[Request]:
    """Requests whose answers say which request they answer: the fake model tags the seed."""
    return [Request(f"p{i}", SamplingParams(max_tokens=2, seed=i)) for i in range(count)]


def expected(requests: list[Request]) -> list[str]:
    return [fake_completion(r.prompt, r.params.max_tokens, [], r.params.seed, 0)[0]
            for r in requests]


def texts(results) -> list[str]:
    return [r.completions[0].text for r in results]


def closed_url() -> str:
    with FakeOpenAIServer() as gone:
        return gone.url            # nothing listens there once it is closed


def test_urls_are_split_trimmed_and_deduplicated():
    assert server_urls("http://a:1/v1/, http://b:2/v1,http://a:1/v1,") == [
        "http://a:1/v1", "http://b:2/v1"]
    both = "http://a:1/v1,http://b:2/v1"
    assert resolve_model(both) == ("openai", both)
    with pytest.raises(LLMError, match="server URLs"):
        OpenAILLM("http://a:1/v1,b:2/v1")
    with pytest.raises(LLMError, match="server URLs"):
        OpenAILLM(" , ")


def test_requests_spread_over_servers_each_within_its_own_slots():
    with ExitStack() as stack:
        servers = [stack.enter_context(FakeOpenAIServer(delay=0.05)) for _ in range(3)]
        for server, slots in zip(servers, (2, 3, 4)):
            server.slots = slots
        llm = pool(*(s.url for s in servers))
        assert llm.concurrency() == 9          # every server's /props total_slots, together
        requests = seeded(45)
        results = llm.generate(requests)
    assert texts(results) == expected(requests)
    assert [s.max_in_flight for s in servers] == [2, 3, 4]
    assert sum(len(s.requests) for s in servers) == 45           # each request sent once
    # Least loaded relative to slots: each server's share follows its slots.
    shares = [len(s.requests) for s in servers]
    assert all(share >= 2 * s.slots for share, s in zip(shares, servers)), shares


def test_a_closed_server_gets_no_answers_and_its_share_moves_to_the_others():
    with FakeOpenAIServer(delay=0.01) as a, FakeOpenAIServer(delay=0.01) as b:
        llm = pool(a.url, closed_url(), b.url, concurrency=2)
        requests = seeded(20)
        results = llm.generate(requests)
    assert texts(results) == expected(requests)
    assert len(a.requests) + len(b.requests) == 20
    assert len(a.requests) > 0 and len(b.requests) > 0


@pytest.mark.parametrize("fault", ["reset", "500", "hang:3"])
def test_a_failing_server_hands_its_requests_to_the_others_with_the_same_seed(fault):
    """A failed try is sent again as it was, seed included, so a seeded request gets the same
    text whichever server answers it (here: the one that works)."""
    with FakeOpenAIServer() as good, FakeOpenAIServer() as bad:
        bad.always = fault
        llm = pool(bad.url, good.url, concurrency=4, timeout=0.3)
        requests = [Request(f"p{i}", SamplingParams(temperature=0.8, max_tokens=3, seed=100 + i))
                    for i in range(24)]
        results = llm.generate(requests)
    assert texts(results) == [fake_completion(r.prompt, 3, [], r.params.seed, 0)[0]
                              for r in requests]
    assert len(good.requests) == 24                             # every request answered once
    assert 0 < len(bad.requests) < 24                           # tried, then left alone
    assert all(sent in good.requests for sent in bad.requests)  # retried unchanged


def test_all_servers_down_is_one_error_naming_every_url_in_bounded_time():
    with FakeOpenAIServer() as failing, FakeOpenAIServer() as resetting:
        failing.always, resetting.always = "500", "reset"
        gone = closed_url()
        llm = pool(failing.url, gone, resetting.url, retries=2, concurrency=3)
        start = time.monotonic()
        with pytest.raises(LLMError) as caught:
            llm.generate(seeded(30))
        took = time.monotonic() - start
    message = str(caught.value)
    assert "3 tries in a row on every server" in message
    assert f"{failing.url}/completions: 3 failed tries in a row, last: HTTP 500" in message
    assert f"{gone}/completions: 3 failed tries in a row, last: URLError" in message
    assert f"{resetting.url}/completions: 3 failed tries in a row, last: " in message
    assert "reset" in message.split(resetting.url + "/completions")[1]
    assert took < 3, took
    # Probed, not hammered: a few tries each, whatever the number of queued requests.
    assert len(failing.requests) <= 3 * 3 and len(resetting.requests) <= 3 * 3


def test_servers_of_different_models_are_refused_before_any_request():
    with FakeOpenAIServer() as a, FakeOpenAIServer() as b:
        a.models = [{"id": "fake-model", "root": "/models/v1"}]
        b.models = [{"id": "fake-model", "root": "/models/v2"}]
        with pytest.raises(LLMError) as caught:
            pool(a.url, b.url).generate(seeded(3))
        assert not a.requests and not b.requests
        with pytest.raises(LLMError, match="do not serve the same model"):
            pool(a.url, b.url).fingerprint()
    message = str(caught.value)
    assert "do not serve the same model" in message
    assert f"{a.url} serves" in message and "/models/v1" in message
    assert f"{b.url} serves" in message and "/models/v2" in message


def test_a_server_that_was_down_is_checked_before_its_first_request():
    with FakeOpenAIServer() as a, FakeOpenAIServer() as late:
        late.models = [{"id": "another-model"}]
        late.get_fault = "reset"                       # not up yet when the list is checked
        llm = pool(a.url, late.url, concurrency=2)
        llm.fingerprint()
        late.get_fault = None                          # up now, serving another model
        with pytest.raises(LLMError, match=f"{late.url} serves .*another-model"):
            llm.generate(seeded(8))
    assert not late.requests                           # no completion asked of it


def test_one_url_keeps_its_fingerprint_and_a_list_has_one_without_urls():
    with ExitStack() as stack:
        a, b, c = (stack.enter_context(FakeOpenAIServer()) for _ in range(3))
        # The single-URL fingerprint of the code before lists, unchanged: caches stay valid.
        served = [{"id": "fake-model", "owned_by": "test"}]
        assert pool(b.url).fingerprint() == digest(
            {"url": b.url, "model_name": "default", "served": served}, "server")
        listed = pool(a.url, b.url).fingerprint()
        assert listed.startswith("servers:")
        # Which servers, how many, in which order: one identity, so a grown list keeps its cache.
        assert pool(b.url, a.url).fingerprint() == listed
        assert pool(a.url, b.url, c.url).fingerprint() == listed
        assert OpenAILLM(b.url + ",", OpenAIOptions(**FAST)).fingerprint() == listed  # list of 1
        assert pool(b.url).fingerprint() != listed
        assert pool(a.url, b.url, model_name="other").fingerprint() != listed
        for server in (a, b, c):
            server.models = [{"id": "fake-model", "owned_by": "test", "root": "/v2"}]
        assert pool(a.url, b.url).fingerprint() != listed   # the servers moved to new weights


def test_the_cache_over_a_list_replays_without_requests_after_the_list_changes(tmp_path):
    requests = seeded(10)
    with FakeOpenAIServer() as a, FakeOpenAIServer() as b, FakeOpenAIServer() as c:
        first = CachedLLM(pool(a.url, b.url), tmp_path / "cache.sqlite")
        assert texts(first.generate(requests)) == expected(requests)
        first.close()
        sent = len(a.requests) + len(b.requests)
        assert sent == 10
        again = CachedLLM(pool(c.url, b.url), tmp_path / "cache.sqlite")   # a replica swapped
        assert texts(again.generate(requests)) == expected(requests)
        again.close()
        assert len(a.requests) + len(b.requests) == sent and not c.requests
        assert again.hits == 10 and again.misses == 0
