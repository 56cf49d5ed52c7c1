"""What the openai backend reads off the wire: completion bodies, token usage, Retry-After, and
the short quotes of a body or an error that its messages carry. Pure functions, so they are
tested on literal values; ``openai.py`` does the sending."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

from selfalign.llm.base import Completion, LLMError

SNIPPET_CHARS = 300


def parse_choices(body: dict[str, Any], url: str) -> list[Completion]:
    """Turn a /completions response body into Completions, checking its shape."""
    try:
        choices = sorted(body["choices"], key=lambda c: c.get("index", 0))
        texts = [str(c["text"]) for c in choices]
        reasons = [_finish_reason(c.get("finish_reason")) for c in choices]
    except (KeyError, TypeError, AttributeError):
        raise LLMError(f"{url} answered without choices[].text: "
                       f"{snippet(json.dumps(body).encode())}") from None
    usage = body.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    shares = _split_tokens(int(usage.get("completion_tokens") or 0), texts)
    return [Completion(text, reason, prompt_tokens, share)
            for text, reason, share in zip(texts, reasons, shares)]


def evaluated_prompt_tokens(body: dict[str, Any]) -> int:
    """Prompt tokens the server ran for one answer: its usage less the tokens it says came from
    its prefix cache (``usage.prompt_tokens_details.cached_tokens``, where reported)."""
    usage = body.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    try:
        return max(0, int(usage.get("prompt_tokens") or 0) - int(details.get("cached_tokens") or 0))
    except (TypeError, ValueError):
        return 0


def _finish_reason(reason: Any) -> str:
    # Servers say "stop", "eos", "stop_sequence", None…; only "length" means cut off.
    return "length" if reason == "length" else "stop"


def _split_tokens(total: int, texts: list[str]) -> list[int]:
    """Usage counts all choices together; share it out by text length (exact when n == 1)."""
    if len(texts) == 1:
        return [total]
    chars = sum(len(t) for t in texts)
    if chars == 0:
        return [total // len(texts)] * len(texts)
    shares = [total * len(t) // chars for t in texts]
    shares[-1] += total - sum(shares)
    return shares


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delay seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_reason(error: BaseException) -> str:
    return str(getattr(error, "reason", None) or error) or "no detail"


def snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip().replace("\n", " ")
    return repr(text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else ""))
