"""The one interface every LLM backend implements: ``generate(requests) -> results``.

A request is a plain text prompt (the pipeline prompts base models few-shot, so we never depend
on a chat template) plus sampling parameters. A result holds ``n`` completions, each with its
finish reason and token counts, so callers can drop outputs cut off by the token limit.

Backends are tiny classes with a ``name`` (the cache key's model identity) and an options
dataclass that rejects unknown keys. They are registered by ``"module:Class"`` string and
imported only when chosen, so a missing heavy extra (torch, vllm) costs nothing until used.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence


class LLMError(RuntimeError):
    """A backend failed in a way the user can act on (bad path, server down, missing extra)."""


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    n: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop", tuple(self.stop))
        if self.n < 1:
            raise ValueError("n must be at least 1")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "stop": list(self.stop)}


@dataclass(frozen=True)
class Request:
    prompt: str
    params: SamplingParams = field(default_factory=SamplingParams)


@dataclass
class Completion:
    text: str
    finish_reason: str          # "stop" (EOS or a stop sequence) | "length" (hit max_tokens)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass
class Result:
    completions: list[Completion]
    cached: bool = False


@dataclass
class BackendOptions:
    """Per-backend options; subclasses add typed fields. Unknown keys are an error."""

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "model.options") -> "BackendOptions":
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            known = ", ".join(sorted(names)) or "none"
            raise LLMError(f"unknown option(s) {', '.join(unknown)} in [{where}] "
                           f"for this backend (known: {known})")
        return cls(**data)


class LLM:
    """Base class. Subclasses set ``backend`` and implement ``generate``."""

    backend: ClassVar[str] = "base"
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    # Capabilities, read by callers instead of isinstance checks.
    supports_seed: ClassVar[bool] = True
    batched: ClassVar[bool] = False

    def __init__(self, model: str, options: BackendOptions | None = None) -> None:
        self.model = model
        self.options = options or self.Options()

    @property
    def name(self) -> str:
        """Identity of the model for the cache: backend + model path or id."""
        return f"{self.backend}:{self.model}"

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the model or connections; optional."""


BACKENDS: dict[str, str] = {
    "llamacpp": "selfalign.llm.llamacpp:LlamaCppLLM",
    "transformers": "selfalign.llm.transformers:TransformersLLM",
    "openai": "selfalign.llm.openai:OpenAILLM",
    "vllm": "selfalign.llm.vllm:VLLMLLM",
}


def backend_class(backend: str) -> type[LLM]:
    """Import a backend class by its registered name, only when it is asked for."""
    try:
        target = BACKENDS[backend]
    except KeyError:
        raise LLMError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def require(module: str, extra: str) -> Any:
    """Import an optional dependency or fail with the exact pip line that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LLMError(f"the {extra!r} backend needs {module!r}, which is not installed: "
                       f"pip install 'selfalign[{extra}]'  ({exc})") from None
