"""Render chat messages into one prompt string with a model's own Jinja chat template.

The pipeline keeps sending plain text to every backend (one cache key, one code path); a chat
prompt is just text rendered here first, the way the model's tokenizer would. Backends that carry
the template as text (a GGUF's ``tokenizer.chat_template``, a template file given to a server
backend) render it with ``render_template``; transformers and vLLM use their tokenizer's own
``apply_chat_template``. Trade-off: a sandboxed jinja2 environment with the few helpers chat
templates use (``raise_exception``, ``strftime_now``, ``tojson``) instead of importing transformers
for a string; templates that call other helpers fail with a clear error instead of rendering wrong.

Two details every renderer shares: a template that refuses a system turn (some do) gets the
system text folded into the first user turn, and a BOS written by the template is removed when
the backend adds BOS itself while encoding, so the model never sees two.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable

Messages = list[dict[str, str]]
# An assistant turn no template rewrites, to find the text that ends a turn (see turn_end).
_SENTINEL = "\x00selfalign-turn\x00"


class ChatTemplateError(ValueError):
    """A template that cannot be rendered (bad syntax, raise_exception, unknown helper)."""


def render_template(template: str, messages: Messages, bos_token: str = "", eos_token: str = "",
                    add_generation_prompt: bool = True) -> str:
    """``messages`` rendered by the Jinja ``template`` (Hugging Face chat-template conventions)."""
    jinja2 = _jinja()
    try:
        return _compiled(template).render(
            messages=messages, bos_token=bos_token, eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
            raise_exception=_raise_exception, strftime_now=_strftime_now)
    except ChatTemplateError:
        raise
    except jinja2.TemplateError as exc:
        raise ChatTemplateError(f"the chat template could not be rendered: {exc}") from None


@lru_cache(maxsize=8)
def _compiled(template: str) -> Any:
    """One compiled template per text: a stage renders hundreds of prompts with it."""
    _jinja()
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = _tojson
    return env.from_string(template)


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(f"the chat template refused the messages: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False, **_: Any) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


def render_messages(render: Callable[[Messages, bool], str], messages: Messages,
                    add_generation_prompt: bool = True) -> str:
    """``render(messages, add_generation_prompt)``, retried with the system text folded into the
    first user turn when the template refuses a system role."""
    try:
        return render(messages, add_generation_prompt)
    except Exception as exc:  # noqa: BLE001 - tokenizers raise their own types (jinja2, ValueError)
        folded = fold_system(messages)
        if folded == messages:
            raise ChatTemplateError(str(exc)) from None
        try:
            return render(folded, add_generation_prompt)
        except Exception:  # noqa: BLE001
            raise ChatTemplateError(str(exc)) from None


def fold_system(messages: Messages) -> Messages:
    """The messages without a system turn: its text opens the first user turn."""
    if not messages or messages[0]["role"] != "system":
        return messages
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    for m in rest:
        if m["role"] == "user":
            m["content"] = f"{system}\n\n{m['content']}"
            break
    return rest


def strip_bos(text: str, bos_token: str | None, adds_bos: bool) -> str:
    """The rendered prompt without the template's BOS when the encoder adds one anyway."""
    if adds_bos and bos_token and text.startswith(bos_token):
        return text[len(bos_token):]
    return text


def turn_end(render: Callable[[Messages, bool], str]) -> str:
    """The text a template writes after an assistant turn (``<|im_end|>`` for ChatML), found by
    rendering a known turn; a stop sequence for chat prompts. Empty when there is none."""
    text = render_messages(render, [{"role": "user", "content": "hi"},
                                    {"role": "assistant", "content": _SENTINEL}], False)
    _, found, after = text.partition(_SENTINEL)
    return after.strip() if found else ""


def _jinja() -> Any:
    try:
        import jinja2
    except ImportError:  # pulled in by llama-cpp-python, a core dependency
        raise ChatTemplateError("rendering a chat template needs jinja2: pip install jinja2") from None
    return jinja2
