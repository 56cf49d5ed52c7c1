"""The ``[model]`` section: which model answers, through which backend, with which options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selfalign.config import setting


@dataclass
class ModelConfig:
    model: str = setting("GGUF file, model directory, hub id or server URL; empty = the embedded "
                         "SmolLM2-135M-Instruct", "")
    backend: str = setting("llamacpp | transformers | openai | vllm; empty = chosen from model", "")
    options: dict[str, Any] = setting("backend options, e.g. n_ctx for llamacpp", factory=dict)
    cache: bool = setting("cache every LLM call (a run: <run dir>/cache.sqlite; eval: <output>/llm-cache.sqlite)", True)
