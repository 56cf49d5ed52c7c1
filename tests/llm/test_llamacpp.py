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
