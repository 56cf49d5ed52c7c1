"""The ``[concepts]``, ``[instructions]`` and ``[responses]`` sections: few-shot, prompt format
and sampling settings of the three generation stages (S->C, C->I, I->R).

``format`` is per stage, so a model can get the format that suits each task (docs/prompt-formats.md
has the measured yields); ``auto`` is chat when the model has a chat template, else completion."""

from __future__ import annotations

from dataclasses import dataclass

from selfalign.config import section_repr, setting
from selfalign.generate.prompts import FORMATS

FORMAT_HELP = ("prompt format: completion (few-shot text to continue), chat (the examples as "
               "conversation turns in the model's own chat template) or auto (chat when the model "
               "has a chat template, else completion)")


def check_format(section: str, value: str) -> None:
    if value not in FORMATS:
        raise ValueError(f"{section}.format must be one of {', '.join(FORMATS)}, got {value!r}")


@dataclass
class ConceptsConfig:
    fewshot: int = setting("examples shown per prompt", 8)
    temperature: float = setting("sampling temperature", 0.7)
    max_tokens: int = setting("new tokens per answer; longer answers are dropped as truncated", 96)
    format: str = setting(FORMAT_HELP, "auto")

    def __post_init__(self) -> None:
        check_format("concepts", self.format)


@dataclass
class InstructionsConfig:
    fewshot: int = setting("examples shown per prompt", 8)
    temperature: float = setting("sampling temperature", 0.7)
    max_tokens: int = setting("new tokens per answer; longer answers are dropped as truncated", 384)
    categories: list[str] = setting("task categories to sample from",
                                    factory=lambda: ["function", "class", "program"])
    difficulties: list[str] = setting("difficulties to sample from",
                                      factory=lambda: ["easy", "medium", "hard"])
    format: str = setting(FORMAT_HELP, "auto")

    def __post_init__(self) -> None:
        check_format("instructions", self.format)


@dataclass
class ResponsesConfig:
    fewshot: int = setting("examples shown per prompt", 1)
    n: int = setting("responses sampled per instruction", 2)
    temperature: float = setting("sampling temperature", 0.7)
    max_tokens: int = setting("new tokens per answer; longer answers are dropped as truncated", 768)
    format: str = setting(FORMAT_HELP, "auto")
    ask_tests: bool = setting("when an answer ends after its solution with no tests, continue it once "
                              "with a 'Tests:' block for the model to fill (its tests are still its "
                              "own and still run; the training response is the answer before them)",
                              False, added=True)
    tests_max_tokens: int = setting("new tokens for the tests of an answer continued by ask_tests; "
                                    "longer tests are dropped as truncated", 384, added=True)

    __repr__ = section_repr

    def __post_init__(self) -> None:
        check_format("responses", self.format)
        if self.tests_max_tokens < 1:
            raise ValueError(f"responses.tests_max_tokens must be at least 1, got {self.tests_max_tokens}")
