"""The SQLite LLM cache in front of the real embedded model."""

import sqlite3

from selfalign.cache import CachedLLM, ResponseCache
from selfalign.llm import Request, SamplingParams


class _Borrowed(CachedLLM):
    """The session's model must outlive this test's cache."""

    def close(self) -> None:
        self.cache.close()


def test_second_call_is_a_hit_with_the_same_text(tmp_path, embedded_llm):
    llm = _Borrowed(embedded_llm, tmp_path / "cache.sqlite")
    req = Request("def square(x):\n    return", SamplingParams(max_tokens=6))
    first = llm.generate([req])[0]
    assert (llm.hits, llm.misses) == (0, 1) and not first.cached
    again = llm.generate([req, req])
    assert (llm.hits, llm.misses) == (2, 1)
    assert all(r.cached and r.completions == first.completions for r in again)
    assert llm.tokens == first.completions[0].completion_tokens
    llm.close()
    # A new process (new object) on the same file still hits.
    reopened = _Borrowed(embedded_llm, tmp_path / "cache.sqlite")
    assert reopened.generate([req])[0].cached
    reopened.close()


def test_params_and_seed_are_part_of_the_key(tmp_path, embedded_llm):
    llm = _Borrowed(embedded_llm, tmp_path / "cache.sqlite")
    base = SamplingParams(max_tokens=4)
    llm.generate([Request("x =", base), Request("x =", SamplingParams(max_tokens=5)),
                  Request("x =", SamplingParams(max_tokens=4, temperature=0.5, seed=1)),
                  Request("x =", SamplingParams(max_tokens=4, temperature=0.5, seed=2))])
    assert llm.misses == 4 and len(llm.cache) == 4
    llm.close()


def test_unseeded_sampling_is_never_cached(tmp_path, embedded_llm):
    llm = _Borrowed(embedded_llm, tmp_path / "cache.sqlite")
    req = Request("x =", SamplingParams(max_tokens=4, temperature=0.8))
    llm.generate([req])
    llm.generate([req])
    assert llm.misses == 2 and llm.hits == 0 and len(llm.cache) == 0
    llm.close()


def test_schema_mismatch_is_refused(tmp_path):
    path = tmp_path / "cache.sqlite"
    ResponseCache(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='other v9' WHERE key='schema'")
    db.commit()
    db.close()
    try:
        ResponseCache(path)
    except ValueError as exc:
        assert "other v9" in str(exc)
    else:
        raise AssertionError("a cache of another schema was accepted")
