"""The ``[concepts]``, ``[instructions]`` and ``[responses]`` sections: few-shot and sampling
settings of the three generation stages (S->C, C->I, I->R)."""

from __future__ import annotations

from dataclasses import dataclass

from selfalign.config import setting


@dataclass
class ConceptsConfig:
    fewshot: int = setting("examples shown per prompt", 8)
    temperature: float = setting("sampling temperature", 0.7)
    max_tokens: int = setting("new tokens per answer; longer answers are dropped as truncated", 96)


@dataclass
class InstructionsConfig:
    fewshot: int = setting("examples shown per prompt", 8)
    temperature: float = setting("sampling temperature", 0.7)
    max_tokens: int = setting("new tokens per answer; longer answers are dropped as truncated", 384)
    categories: list[str] = setting("task categories to sample from",
                                    factory=lambda: ["function", "class", "program"])
    difficulties: list[str] = setting("difficulties to sample from",
                                      factory=lambda: ["easy", "medium", "hard"])


@dataclass
class ResponsesConfig:
    fewshot: int = setting("examples shown per prompt", 1)
    n: int = setting("responses sampled per instruction", 2)
    temperature: float = setting("sampling temperature", 0.7)
    max_tokens: int = setting("new tokens per answer; longer answers are dropped as truncated", 768)
