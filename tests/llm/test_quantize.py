"""`selfalign quantize`: llama.cpp's quantizer on the embedded model, and its refusals."""

from __future__ import annotations

from collections import Counter

import pytest

from selfalign.cli import main
from selfalign.llm import Request, SamplingParams, embedded_model_path, load_llm
from selfalign.llm.base import LLMError
from selfalign.llm.quantize import quantize_gguf


def test_the_embedded_model_requantized_to_q4_0_loads_and_generates(tmp_path, capsys):
    gguf = pytest.importorskip("gguf")
    out = tmp_path / "smol-q4_0.gguf"
    assert main(["quantize", embedded_model_path(), str(out)]) == 0
    assert f"-> {out} (q4_0," in capsys.readouterr().out
    types = Counter(t.tensor_type.name for t in gguf.GGUFReader(out).tensors)
    assert types["Q4_0"] > 100 and "Q4_1" not in types          # every matrix, not the norms
    assert not list(tmp_path.glob("*.partial"))
    llm = load_llm(str(out), options={"n_ctx": 256})
    try:
        text = llm.generate([Request("def add(a, b):", SamplingParams(max_tokens=8))])[0].completions[0].text
    finally:
        llm.close()
    assert text.strip()
    assert main(["quantize", embedded_model_path(), str(out)]) == 2     # never overwritten
    assert "exists" in capsys.readouterr().err


def test_unknown_type_missing_file_and_same_file_are_refused(tmp_path):
    with pytest.raises(LLMError, match="unknown quantization type 'q3'.*q4_0"):
        quantize_gguf(embedded_model_path(), tmp_path / "x.gguf", "q3")
    with pytest.raises(LLMError, match="model file not found"):
        quantize_gguf(tmp_path / "missing.gguf", tmp_path / "x.gguf", "q4_0")
    with pytest.raises(LLMError, match="another file"):
        quantize_gguf(embedded_model_path(), embedded_model_path(), "q4_0")
    not_a_model = tmp_path / "junk.gguf"
    not_a_model.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(LLMError, match="could not quantize"):
        quantize_gguf(not_a_model, tmp_path / "y.gguf", "q4_0")
    assert not (tmp_path / "y.gguf").exists() and not list(tmp_path.glob("*.partial"))
