"""The template self-check before training and the smoke generation after it.

The most common complaint about SFT'd models is one that never stops, and it always comes from
the data path, not the optimizer: EOS masked out with the padding, BOS doubled because the prompt
text already holds it, or a training prompt that differs from the inference prompt by a space. So
before the first step, on a few rows run through the trainer's own collator, this module checks
that the labels mask exactly the prompt and cover exactly the response, that EOS is a label, that
BOS appears at most once (and once when the tokenizer adds it), and, with the instruct template,
that the prompt ids equal what ``selfalign respond`` renders and a backend tokenizes for the same
instruction (captured from ``respond`` itself through a recording LLM, so a change to ``respond``
is caught here) and what the saved chat template renders. Each failure raises ``TemplateError``
naming the row and what differs. After training, a greedy generation on a few prompts must stop
at EOS or ``###``; the result goes into ``selfalign.json``.
"""

from __future__ import annotations

from typing import Any, Sequence

from selfalign.llm.base import LLM, Completion, Request, Result
from selfalign.respond import respond
from selfalign.template import STOP
from selfalign.train.data import IGNORE, Row, encode_pairs, parse_instruct_prompt, render


class TemplateError(ValueError):
    """The data, tokenizer or template would train a model that is prompted differently than it
    was trained, or that never learns to stop."""


class _PromptRecorder(LLM):
    """An LLM that answers nothing and keeps the prompts it was sent."""

    backend = "recorder"

    def __init__(self) -> None:
        super().__init__("recorder")
        self.prompts: list[str] = []

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        self.prompts += [r.prompt for r in requests]
        return [Result([Completion("", "stop")]) for _ in requests]


def respond_prompt(instruction: str) -> str:
    """The exact prompt text ``selfalign respond`` sends to a backend for ``instruction``."""
    recorder = _PromptRecorder()
    respond(instruction, llm=recorder, max_tokens=1)
    return recorder.prompts[0]


def first_difference(a: str, b: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"at character {i}: {a[max(0, i - 30):i + 30]!r} vs {b[max(0, i - 30):i + 30]!r}"


def check_template(rows: list[Row], tokenizer: Any, template: str, collator: Any = None,
                   k: int = 4) -> dict[str, Any]:
    """Run the checks of the module docstring on the first ``k`` rows; raise ``TemplateError``."""
    if tokenizer.eos_token_id is None:
        raise TemplateError("the tokenizer has no EOS token, so the model cannot learn to stop")
    rows = rows[:k]
    pairs = [render(row, template, tokenizer) for row in rows]
    encoded, _ = encode_pairs(pairs, tokenizer, template)
    adds_bos = tokenizer_adds_bos(tokenizer)
    for i, (row, (prompt, completion), enc) in enumerate(zip(rows, pairs, encoded), 1):
        where = f"row {i}"
        _check_labels(enc, completion, tokenizer, where)
        _check_bos(enc.input_ids, tokenizer, adds_bos, template, where)
        if template == "instruct":
            _check_against_respond(row, prompt, enc.input_ids[: enc.prompt_len], tokenizer, where)
        if template in ("instruct", "chat") and tokenizer.chat_template:
            _check_chat_template(row, enc.input_ids[: enc.prompt_len], tokenizer, where)
    if collator is not None:
        _check_collated(collator, encoded, tokenizer.eos_token_id)
    return {"rows_checked": len(rows), "template": template, "tokenizer_adds_bos": adds_bos,
            "eos_token": tokenizer.eos_token, "bos_token": tokenizer.bos_token,
            "prompt_matches_respond": template == "instruct",
            "chat_template_matches": template != "raw" and bool(tokenizer.chat_template)}


def tokenizer_adds_bos(tokenizer: Any) -> bool:
    ids = tokenizer("x")["input_ids"]
    return tokenizer.bos_token_id is not None and bool(ids) and ids[0] == tokenizer.bos_token_id


def _check_labels(enc: Any, completion: str, tokenizer: Any, where: str) -> None:
    p, labels, ids = enc.prompt_len, enc.labels, enc.input_ids
    if any(label != IGNORE for label in labels[:p]):
        raise TemplateError(f"{where}: a prompt token carries a label; only the response may be learned")
    if labels[p:] != ids[p:] or IGNORE in labels[p:]:
        raise TemplateError(f"{where}: the labels do not cover every response token")
    if labels[-1] != tokenizer.eos_token_id:
        raise TemplateError(f"{where}: EOS ({tokenizer.eos_token!r}) is not the last label, so the "
                            "model would never learn to stop")
    learned = tokenizer.decode(labels[p:-1], skip_special_tokens=False)
    if learned.strip() != completion.removesuffix(tokenizer.eos_token or "").strip():
        raise TemplateError(f"{where}: the labelled tokens are not exactly the response "
                            f"({first_difference(learned.strip(), completion.strip())})")


def _check_bos(ids: list[int], tokenizer: Any, adds_bos: bool, template: str, where: str) -> None:
    bos = tokenizer.bos_token_id
    if bos is None:
        return
    leading = next((i for i, t in enumerate(ids) if t != bos), len(ids))
    if leading > 1:
        raise TemplateError(f"{where}: the sequence starts with {leading} BOS tokens "
                            f"({tokenizer.bos_token!r}): the prompt text already holds BOS and the "
                            "tokenizer adds another")
    if adds_bos and template != "chat" and leading != 1:
        raise TemplateError(f"{where}: the tokenizer adds BOS at inference but the training row has none")


def _check_against_respond(row: Row, prompt: str, prompt_ids: list[int], tokenizer: Any, where: str) -> None:
    instruction = row.instruction
    if instruction is None:
        parsed = parse_instruct_prompt(prompt)
        if parsed is None:
            raise TemplateError(f"{where}: the prompt is not in the instruct template (### Instruction / "
                                f"### Response), so `selfalign respond` would prompt the model "
                                f"differently: {prompt[:120]!r}; set train.template='raw' to train on it as is")
        instruction = parsed[1]
    expected = respond_prompt(instruction)
    if prompt != expected:
        raise TemplateError(f"{where}: the training prompt differs from what `selfalign respond` renders "
                            f"for the same instruction ({first_difference(prompt, expected)}); set "
                            "train.template='raw' to train on the prompts as they are")
    if tokenizer(expected)["input_ids"] != prompt_ids:
        raise TemplateError(f"{where}: the prompt's token ids differ from the ids a backend sends at inference")


def _check_chat_template(row: Row, prompt_ids: list[int], tokenizer: Any, where: str) -> None:
    messages = row.messages()[:-1]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    if list(ids) != prompt_ids:
        raise TemplateError(f"{where}: the tokenizer's chat template renders a different prompt than the "
                            f"one trained on ({first_difference(tokenizer.decode(ids), tokenizer.decode(prompt_ids))})")


def _check_collated(collator: Any, encoded: list[Any], eos: int) -> None:
    """EOS must survive the trainer's collator (one that masks every pad id also masks an EOS
    that doubles as pad)."""
    batch = collator([{"input_ids": e.input_ids, "labels": e.labels} for e in encoded])
    labels = batch["labels"].tolist()
    flat = [t for row in labels for t in row]
    kept = sum(1 for t in flat if t == eos)
    if kept < len(encoded):
        raise TemplateError(f"the trainer's collator keeps EOS in the labels of only {kept} of "
                            f"{len(encoded)} rows")


def smoke_generate(net: Any, tokenizer: Any, prompts: list[str], template: str, max_new_tokens: int,
                   special: bool = True) -> dict[str, Any]:
    """Greedy answers to ``prompts``; each must stop at EOS (or ``###`` with the instruct template)."""
    import torch

    eos = tokenizer.eos_token_id
    samples, stopped = [], 0
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=special, return_tensors="pt")
        with torch.inference_mode():
            out = net.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
                               pad_token_id=tokenizer.pad_token_id)
        new = out[0, ids["input_ids"].shape[1]:].tolist()
        text = tokenizer.decode(new, skip_special_tokens=True)
        how = "eos" if eos in new else "###" if template == "instruct" and STOP in text else "length"
        stopped += how != "length"
        samples.append({"prompt_tail": prompt[-60:], "text": text[:300], "stop": how, "tokens": len(new)})
    return {"stopped": stopped, "of": len(prompts), "ok": stopped == len(prompts), "samples": samples}
