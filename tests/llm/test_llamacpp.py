"""The default backend on the embedded model: real generation, stops, lengths and seeds."""

from selfalign.llm import Request, SamplingParams


def test_greedy_is_deterministic_and_counts_tokens(embedded_llm):
    req = Request("def add(a, b):\n    return", SamplingParams(max_tokens=8))
    first, second = embedded_llm.generate([req, req])
    assert first.completions[0].text == second.completions[0].text
    c = first.completions[0]
    assert c.prompt_tokens > 3 and 0 < c.completion_tokens <= 8


def test_length_and_stop_reasons(embedded_llm):
    long = embedded_llm.generate([Request("Count: 1, 2, 3,", SamplingParams(max_tokens=4))])[0]
    assert long.completions[0].finish_reason == "length"
    stopped = embedded_llm.generate([Request("Count: 1, 2, 3,", SamplingParams(max_tokens=64, stop=(",",)))])[0]
    assert stopped.completions[0].finish_reason == "stop" and "," not in stopped.completions[0].text


def test_n_samples_with_seed_are_reproducible(embedded_llm):
    req = Request("Name a fruit:", SamplingParams(temperature=1.0, max_tokens=6, n=3, seed=11))
    a = [c.text for c in embedded_llm.generate([req])[0].completions]
    b = [c.text for c in embedded_llm.generate([req])[0].completions]
    assert len(a) == 3 and a == b


def test_sampling_filters_are_passed_explicitly(embedded_llm, monkeypatch):
    """llama-cpp-python's own top_k=40 and min_p=0.05 must never apply behind our back."""
    seen = []
    real = embedded_llm._llama.create_completion

    def spy(prompt, **kwargs):
        seen.append(kwargs)
        return real(prompt, **kwargs)

    monkeypatch.setattr(embedded_llm._llama, "create_completion", spy)
    embedded_llm.generate([Request("x =", SamplingParams(temperature=0.8, max_tokens=2, seed=1)),
                           Request("x =", SamplingParams(temperature=0.8, max_tokens=2, seed=1,
                                                         top_k=5, min_p=0.2))])
    assert [(k["top_k"], k["min_p"], k["top_p"]) for k in seen] == [(0, 0.0, 1.0), (5, 0.2, 1.0)]


def test_top_k_one_samples_the_greedy_text(embedded_llm):
    prompt = "def add(a, b):\n    return"
    greedy = embedded_llm.generate([Request(prompt, SamplingParams(max_tokens=8))])[0]
    hot = embedded_llm.generate([Request(prompt, SamplingParams(
        temperature=1.5, max_tokens=8, n=3, seed=4, top_k=1))])[0]
    assert [c.text for c in hot.completions] == [greedy.completions[0].text] * 3


def test_fingerprint_is_the_files(embedded_llm):
    from selfalign.llm.fingerprint import gguf_fingerprint
    assert embedded_llm.fingerprint() == gguf_fingerprint(embedded_llm.model)
    identity = embedded_llm.identity()
    assert identity["backend"] == "llamacpp" and identity["options"] == {
        "n_ctx": 4096, "n_gpu_layers": 0}                  # threads and n_batch: speed only


def test_prompt_evaluated_counts_what_the_binding_did_not_take_from_its_cache(embedded_llm):
    """n samples of one prompt: the first evaluates it, each later one only its last token
    again (llama-cpp-python's prefix reuse). A prompt sharing a prefix with the previous one
    evaluates only the rest. The sum of the samples' prompt_tokens is n times the prompt."""
    head = "You write small Python functions. " * 8
    embedded_llm.generate([Request("unrelated =", SamplingParams(max_tokens=1))])
    before = embedded_llm.prompt_evaluated
    (result,) = embedded_llm.generate([Request(head + "def add(a, b):", SamplingParams(
        temperature=0.8, max_tokens=3, n=3, seed=1))])
    size = result.completions[0].prompt_tokens
    assert [c.prompt_tokens for c in result.completions] == [size] * 3 and size > 50
    assert embedded_llm.prompt_evaluated - before == size + 2
    before = embedded_llm.prompt_evaluated
    (other,) = embedded_llm.generate([Request(head + "def mul(a, b):", SamplingParams(max_tokens=2))])
    assert 0 < embedded_llm.prompt_evaluated - before < other.completions[0].prompt_tokens - 40
