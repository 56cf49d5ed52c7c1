"""The SQLite LLM cache in front of the real embedded model."""

import shutil
import sqlite3

import pytest

from selfalign.cache import CachedLLM, ResponseCache
from selfalign.llm import Request, SamplingParams, embedded_model_path
from selfalign.llm.llamacpp import LlamaCppLLM, LlamaCppOptions


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
    db.execute("UPDATE meta SET value='selfalign.cache v1' WHERE key='schema'")
    db.commit()
    db.close()
    with pytest.raises(ValueError) as caught:
        ResponseCache(path)
    message = str(caught.value)
    assert "'selfalign.cache v1'" in message and "'selfalign.cache v2'" in message
    assert "fingerprint" in message and "Delete the file" in message and str(path) in message


PROMPT = Request("def square(x):\n    return", SamplingParams(max_tokens=6))


def _ask(model_path, cache_path, **options) -> tuple[int, int, str]:
    """A fresh backend and cache object (a new process, in effect): (hits, misses, text)."""
    options = {"n_ctx": 512, "n_threads": 1, **options}
    llm = CachedLLM(LlamaCppLLM(str(model_path), LlamaCppOptions(**options)), cache_path)
    try:
        text = llm.generate([PROMPT])[0].completions[0].text
        return llm.hits, llm.misses, text
    finally:
        llm.close()


def test_a_model_replaced_at_the_same_path_is_not_served_from_the_cache(tmp_path):
    gguf = pytest.importorskip("gguf", reason="needs the gguf package to edit a GGUF file")
    model, cache = tmp_path / "model.gguf", tmp_path / "cache.sqlite"
    shutil.copyfile(embedded_model_path(), model)
    hits, misses, before = _ask(model, cache)
    assert (hits, misses) == (0, 1) and _ask(model, cache)[:2] == (1, 0)
    # "Retrain" it: same architecture, header and size, other weights (the token embedding's
    # rows in reverse order; the output layer is tied to it), written in place.
    embedding = next(t for t in gguf.GGUFReader(str(model)).tensors if t.name == "token_embd.weight")
    rows, offset = embedding.data[::-1].tobytes(), int(embedding.data_offset)
    size = model.stat().st_size
    with open(model, "r+b") as handle:
        handle.seek(offset)
        handle.write(rows)
    assert model.stat().st_size == size
    hits, misses, after = _ask(model, cache)
    assert (hits, misses) == (0, 1)            # the old model's answer was not replayed
    assert after != before                     # and it would have been wrong
    store = ResponseCache(cache)
    assert len(store) == 2
    store.close()


def test_an_option_that_changes_output_misses_and_a_speed_option_hits(tmp_path):
    model, cache = embedded_model_path(), tmp_path / "cache.sqlite"
    assert _ask(model, cache)[:2] == (0, 1)
    assert _ask(model, cache, n_ctx=1024)[:2] == (0, 1)           # the context window
    assert _ask(model, cache, n_threads=2, n_batch=64)[:2] == (1, 0)   # speed only


def test_a_batching_backend_gets_every_uncached_request_at_once(tmp_path, monkeypatch):
    """A backend that batches (here llamacpp with parallel) is handed the whole call's misses,
    so a stage's chunk can fill its sequence slots; a loop backend gets one request at a time."""
    inner = LlamaCppLLM(embedded_model_path(), LlamaCppOptions(n_ctx=1024, n_threads=1, parallel=4))
    sizes = []
    real = inner.generate
    monkeypatch.setattr(inner, "generate", lambda requests: sizes.append(len(requests)) or real(requests))
    llm = CachedLLM(inner, tmp_path / "cache.sqlite")
    requests = [Request(f"x{i} =", SamplingParams(max_tokens=2)) for i in range(7)]
    llm.generate(requests[:2])
    sizes.clear()
    results = llm.generate(requests)
    assert sizes == [5] and sum(r.cached for r in results) == 2
    stats = llm.stats()
    assert stats["prompt_tokens"] == sum(r.completions[0].prompt_tokens for r in results)
    assert stats["prompt_evaluated"] == inner.prompt_evaluated == stats["prompt_tokens"]
    llm.close()


def test_a_loop_backend_is_called_one_request_at_a_time(tmp_path, embedded_llm, monkeypatch):
    sizes = []
    real = embedded_llm.generate
    monkeypatch.setattr(embedded_llm, "generate",
                        lambda requests: sizes.append(len(requests)) or real(requests))
    llm = _Borrowed(embedded_llm, tmp_path / "cache.sqlite")
    llm.generate([Request(f"y{i} =", SamplingParams(max_tokens=2)) for i in range(3)])
    assert sizes == [1, 1, 1]
    llm.close()
