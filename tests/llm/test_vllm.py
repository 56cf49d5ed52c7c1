"""The vllm backend cannot run without a GPU; check it is lazy, fails with a usable message,
and builds the engine a tensor-parallel replica under Ray needs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types

import pytest

from selfalign.llm.base import LLMError, Request, SamplingParams, backend_class
from selfalign.llm.vllm import VLLMLLM, VLLMOptions, to_result

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def test_choosing_the_backend_does_not_import_vllm_or_torch():
    code = ("import sys; from selfalign.llm.base import backend_class; backend_class('vllm'); "
            "print(sorted(m for m in ('vllm', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert backend_class("vllm") is VLLMLLM


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here")
def test_missing_vllm_names_the_pip_line():
    with pytest.raises(LLMError) as caught:
        VLLMLLM("bigcode/starcoder2-15b")
    assert "pip install 'selfalign[vllm]'" in str(caught.value)
    assert "'vllm'" in str(caught.value)


def test_missing_gpu_says_what_to_use_instead():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    from selfalign.llm.vllm import check_gpu
    with pytest.raises(LLMError, match="needs an NVIDIA GPU.*'llamacpp'.*'openai'"):
        check_gpu()


def test_options_are_checked():
    assert VLLMOptions.from_dict({"tensor_parallel_size": 2}).tensor_parallel_size == 2
    with pytest.raises(LLMError, match="unknown option.*tp_size"):
        VLLMOptions.from_dict({"tp_size": 2})
    with pytest.raises(LLMError, match="tensor_parallel_size must be 1 or more, got 0"):
        VLLMOptions.from_dict({"tensor_parallel_size": 0})
    assert VLLMLLM.tensor_parallel_size({"tensor_parallel_size": 4, "dtype": "bfloat16"}) == 4


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here")
def test_a_replica_with_ray_workers_builds_its_engine_without_a_gpu_of_its_own(monkeypatch, tmp_path):
    """Under the ray executor a tensor-parallel replica's actor holds no GPU (its k workers hold
    them), so the GPU check is skipped and vLLM is told to start its workers in Ray. vLLM cannot
    be installed here, so a stand-in module records what vllm.LLM would be given; without the
    ray option the same construction still stops at the GPU check."""
    built = []
    fake = types.ModuleType("vllm")
    fake.LLM = lambda **kwargs: built.append(kwargs) or object()
    monkeypatch.setitem(sys.modules, "vllm", fake)
    (tmp_path / "config.json").write_text("{}")     # what the fingerprint reads
    options = VLLMOptions(tensor_parallel_size=2, distributed_executor_backend="ray")
    VLLMLLM(str(tmp_path), options)
    assert built == [dict(model=str(tmp_path), tensor_parallel_size=2, dtype="auto",
                          gpu_memory_utilization=0.9, trust_remote_code=False, enforce_eager=False,
                          distributed_executor_backend="ray")]
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(LLMError, match="needs an NVIDIA GPU"):
            VLLMLLM(str(tmp_path), VLLMOptions(tensor_parallel_size=2))
        assert len(built) == 1


class _Out:   # the shape of vllm's RequestOutput / CompletionOutput, which we only read
    def __init__(self, **fields):
        self.__dict__.update(fields)


def test_to_result_maps_finish_reasons_and_counts():
    output = _Out(prompt_token_ids=[1, 2, 3], outputs=[
        _Out(text="a", token_ids=[5], finish_reason="stop"),
        _Out(text="b c", token_ids=[6, 7], finish_reason="length"),
        _Out(text="", token_ids=[], finish_reason="abort")])
    result = to_result(output)
    assert [(c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens)
            for c in result.completions] == [
        ("a", "stop", 3, 1), ("b c", "length", 3, 2), ("", "length", 3, 0)]


@pytest.mark.skipif(not HAS_VLLM, reason="needs vllm")
def test_sampling_params_are_passed_through():
    llm = VLLMLLM.__new__(VLLMLLM)   # no engine: only the parameter mapping is exercised
    llm.vllm = pytest.importorskip("vllm")
    sp = llm.sampling_params(SamplingParams(0.5, 0.9, 33, ("###",), 4, 7))
    assert (sp.n, sp.temperature, sp.top_p, sp.max_tokens, sp.stop, sp.seed) == (
        4, 0.5, 0.9, 33, ["###"], 7)
    assert sp.top_k in (-1, 0) and sp.min_p == 0.0          # off, as in every backend
    filtered = llm.sampling_params(SamplingParams(0.5, top_k=5, min_p=0.1))
    assert (filtered.top_k, filtered.min_p) == (5, 0.1)


def test_output_options_leave_out_speed_knobs():
    assert set(VLLMOptions().output_options()) == {
        "tensor_parallel_size", "dtype", "max_model_len", "tokenizer", "trust_remote_code",
        "enforce_eager"}


@pytest.mark.skipif(not HAS_VLLM, reason="needs vllm and a GPU")
def test_generates_with_a_tiny_model(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from test_transformers import WORDS, save_tiny_model
    save_tiny_model(tmp_path, hidden_size=128)
    llm = VLLMLLM(str(tmp_path), VLLMOptions(enforce_eager=True, gpu_memory_utilization=0.3,
                                             max_model_len=128))
    hot = SamplingParams(temperature=1.0, max_tokens=12, n=3, seed=5)
    first, greedy = llm.generate([Request("def w1", hot), Request("def w1", SamplingParams(
        temperature=0.0, max_tokens=6))])
    again = llm.generate([Request("def w1", hot)])[0]
    assert len(first.completions) == 3
    assert [c.text for c in first.completions] == [c.text for c in again.completions]
    c = greedy.completions[0]
    assert (c.finish_reason, c.completion_tokens, c.prompt_tokens) == ("length", 6, 2)
    assert all(w in WORDS for w in c.text.split())
    llm.close()
