"""The one interface every LLM backend implements: ``generate(requests) -> results``.

A request is a plain text prompt plus sampling parameters. Chat is not a second request type:
``render_chat(messages)`` turns messages into that text with the model's own chat template
(``chat.py``), so the cache, the backends and the sample files see one kind of prompt. A result
holds ``n`` completions, each with its finish reason and token counts, so callers can drop
outputs cut off by the token limit.

Backends are tiny classes with a ``name`` (for people), a ``fingerprint()`` of the weights they
loaded and an options dataclass that rejects unknown keys; ``identity()`` (backend, fingerprint,
the options that change output) is what the cache and the sample files key on. They are
registered by ``"module:Class"`` string and imported only when chosen, so a missing heavy extra
(torch, vllm) costs nothing until used.
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
    """What a request asks for. Every filter is off unless set, in every backend: top_p 1,
    top_k 0 and min_p 0 mean "no filter" (llama.cpp's own 40 / 0.05 are never applied silently).
    top_k and min_p come last so positional construction of the older fields keeps working."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    n: int = 1
    seed: int | None = None
    top_k: int = 0              # keep the k most likely tokens; 0 = off
    min_p: float = 0.0          # drop tokens below min_p x the top token's probability; 0 = off

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop", tuple(self.stop))
        if self.n < 1:
            raise ValueError("n must be at least 1")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if self.top_k < 0 or not 0.0 <= self.min_p < 1.0:
            raise ValueError("top_k must be >= 0 (0 = off) and min_p in [0, 1) (0 = off)")

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
    """Per-backend options; subclasses add typed fields. Unknown keys are an error.

    An option changes what the model generates unless its field says ``metadata={"output":
    False}`` (threads, batch sizes, timeouts: speed only). So a new option is part of the cache
    key until someone decides it is not: a needless miss, never a stale hit."""

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "model.options") -> "BackendOptions":
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            known = ", ".join(sorted(names)) or "none"
            raise LLMError(f"unknown option(s) {', '.join(unknown)} in [{where}] "
                           f"for this backend (known: {known})")
        return cls(**data)

    @classmethod
    def changes_output(cls, name: str) -> bool:
        """Whether option ``name`` changes what the model writes (an unknown name does: the safe
        side, as for a new option)."""
        found = next((f for f in dataclasses.fields(cls) if f.name == name), None)
        return found is None or _changes_output(found)

    def output_options(self) -> dict[str, Any]:
        """The options that change output, by name (part of the cache key)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if _changes_output(f)}


def _changes_output(option: dataclasses.Field) -> bool:
    return option.metadata.get("output", True)


def speed_only(text: str) -> dict[str, Any]:
    """Field metadata of an option that changes speed, never the generated text."""
    return {"help": text, "output": False}


class LLM:
    """Base class. Subclasses set ``backend`` and implement ``generate``."""

    backend: ClassVar[str] = "base"
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    # Capabilities, read by callers instead of isinstance checks.
    supports_seed: ClassVar[bool] = True
    # Takes many requests per generate() call and runs them together (an instance may decide
    # from its options, e.g. llamacpp with parallel > 1); callers then hand over whole chunks.
    batched: bool = False
    # Items per committed chunk when run.chunk_size is 0 (auto): small where one request takes
    # seconds (a kill loses little), large where the backend needs a deep queue to be fast.
    chunk_size: ClassVar[int] = 4

    def __init__(self, model: str, options: BackendOptions | None = None) -> None:
        self.model = model
        self.options = options or self.Options()
        # Prompt tokens actually run through the model so far, after whatever prefix reuse the
        # backend does (the n samples of one prompt, a shared system paragraph); a backend that
        # cannot tell counts every prompt token it sent.
        self.prompt_evaluated = 0

    @classmethod
    def suggested_chunk_size(cls, options: dict[str, Any], model: str = "") -> int:
        """``run.chunk_size`` when it is 0 (auto), from the backend's raw options and the model
        string (known without loading the model)."""
        return cls.chunk_size

    @classmethod
    def tensor_parallel_size(cls, options: dict[str, Any]) -> int:
        """GPUs one loaded model shards itself over through workers of its own (vLLM's
        ``tensor_parallel_size``), from the raw options; 1 for a model held in one process."""
        return 1

    @property
    def name(self) -> str:
        """The model for people: backend + model path or id (a path can hold another model
        tomorrow: ``identity()`` is what caches compare)."""
        return f"{self.backend}:{self.model}"

    def fingerprint(self) -> str:
        """Which weights (and tokenizer) this object generates with, as ``kind:hex``; computed
        when the model is loaded (see ``selfalign.llm.fingerprint``)."""
        raise NotImplementedError(f"{type(self).__name__} does not say which model it runs: "
                                  "implement fingerprint()")

    def identity(self) -> dict[str, Any]:
        """Everything besides the request that decides the output."""
        return {"backend": self.backend, "fingerprint": self.fingerprint(),
                "options": self.options.output_options()}

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        raise NotImplementedError

    def chat_template(self) -> str | None:
        """The model's own chat template (Jinja text), or None when it has none."""
        return None

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """``messages`` (role/content dicts) as one prompt that ends where the assistant's turn
        begins, rendered with the model's chat template; an ``LLMError`` when it has none."""
        from selfalign.llm.chat import ChatTemplateError, render_messages

        if self.chat_template() is None:
            raise LLMError(f"{self.name} has no chat template, so it cannot be prompted in chat "
                           "format; use the completion format")
        try:
            return render_messages(self._render_chat, messages)
        except ChatTemplateError as exc:
            raise LLMError(f"{self.name}: {exc}") from None

    def chat_stops(self) -> tuple[str, ...]:
        """Stop sequences for a chat prompt: the text that ends an assistant turn, if any (most
        backends also stop at the end-of-turn token by themselves)."""
        from selfalign.llm.chat import turn_end

        if self.chat_template() is None:
            return ()
        end = turn_end(self._render_chat)
        return (end,) if end else ()

    def _render_chat(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        """Render with ``chat_template()`` as text; backends with a tokenizer override this."""
        from selfalign.llm.chat import render_template

        return render_template(self.chat_template() or "", messages,
                               add_generation_prompt=add_generation_prompt)

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
