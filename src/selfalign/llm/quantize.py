"""Requantize a GGUF file with llama.cpp's own quantizer (``llama_model_quantize``).

Why: on a CPU the weights' type decides the speed as much as batching does. llama.cpp repacks
Q4_0 weights into interleaved blocks its AVX2 kernels multiply several rows at once, so a Q4_0
file decodes faster one sequence at a time and gains more from batched decoding than a Q4_1 or
Q5_0 one (measured in docs/backends.md: 2.2-2.4x the raw binding on the original file). The
trade-off: requantizing an already quantized file loses precision, so the result is a different
model, to be evaluated as one (its fingerprint differs, so no cache entry carries over).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from selfalign.llm.base import LLMError

# The types worth offering on a CPU, by llama.cpp's own names (lower case).
TYPES = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k",
         "iq4_nl", "f16", "bf16")


def quantize_gguf(source: str | Path, target: str | Path, kind: str, threads: int = 0) -> Path:
    """Write ``source`` requantized to ``kind`` at ``target`` (atomically: a half-written file
    never carries the target's name); return the target."""
    import llama_cpp

    source, target, kind = Path(source), Path(target), kind.lower()
    if kind not in TYPES:
        raise LLMError(f"unknown quantization type {kind!r}; choose one of {', '.join(TYPES)}")
    if not source.is_file():
        raise LLMError(f"model file not found: {source}")
    if source.resolve() == target.resolve():
        raise LLMError(f"{target}: the output must be another file than the input")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind.upper()}")
    params.allow_requantize = True
    params.nthread = threads or os.cpu_count() or 1
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        rc = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), ctypes.byref(params))
        if rc != 0:
            raise LLMError(f"llama.cpp could not quantize {source} to {kind} (code {rc}); is it a GGUF model?")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
