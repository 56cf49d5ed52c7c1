"""The template self-check catches the broken setups that make a model that never stops."""

from __future__ import annotations

import pytest

from selfalign.respond import respond
from selfalign.template import render_prompt
from selfalign.train.checks import TemplateError, check_template, respond_prompt
from selfalign.train.data import Row
from selfalign.train.model import instruct_chat_template

from .conftest import ROWS, word_tokenizer


def rows(prompt_of=render_prompt) -> list[Row]:
    return [Row(response, instruction, None, prompt_of(instruction)) for instruction, response in ROWS]


def collator(tok, mask_pad_labels: bool = False):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    inner = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id)
    if not mask_pad_labels:
        return inner

    def naive(examples):   # the classic bug: every pad id loses its label, and pad is EOS here
        batch = inner(examples)
        batch["labels"][batch["input_ids"] == tok.pad_token_id] = -100
        return batch
    return naive


def test_a_good_setup_passes_and_reports_what_it_checked():
    tok = word_tokenizer(adds_bos=True)
    tok.chat_template = instruct_chat_template(adds_bos=True)
    report = check_template(rows(), tok, "instruct", collator(tok))
    assert report["rows_checked"] == 4 and report["tokenizer_adds_bos"]
    assert report["prompt_matches_respond"] and report["chat_template_matches"]


def test_the_prompt_compared_is_the_one_respond_sends():
    class Spy:
        def __init__(self):
            self.prompts = []

        def generate(self, requests):
            self.prompts += [r.prompt for r in requests]
            from selfalign.llm.base import Completion, Result
            return [Result([Completion("", "stop")])]

    spy = Spy()
    respond("add two numbers", llm=spy)
    assert respond_prompt("add two numbers") == spy.prompts[0] == render_prompt("add two numbers")


def test_no_eos_is_caught():
    tok = word_tokenizer(eos=None)
    with pytest.raises(TemplateError, match="no EOS"):
        check_template(rows(), tok, "instruct")


def test_eos_lost_in_the_collator_is_caught():
    tok = word_tokenizer()
    tok.pad_token = tok.eos_token
    with pytest.raises(TemplateError, match="keeps EOS in the labels of only 0"):
        check_template(rows(), tok, "instruct", collator(tok, mask_pad_labels=True))
    check_template(rows(), tok, "instruct", collator(tok))   # TRL's own collator keeps it


def test_double_bos_is_caught():
    tok = word_tokenizer(adds_bos=True)
    with pytest.raises(TemplateError, match="starts with 2 BOS"):
        check_template(rows(lambda i: "<s> " + render_prompt(i)), tok, "raw")


def test_a_tokenizer_that_adds_bos_with_a_prompt_that_has_none_is_caught_with_a_chat_template():
    tok = word_tokenizer(adds_bos=True)
    tok.chat_template = instruct_chat_template(adds_bos=False)   # forgot {{ bos_token }}
    with pytest.raises(TemplateError, match="chat template renders a different prompt"):
        check_template(rows(), tok, "instruct")


def test_a_mismatched_template_is_caught():
    tok = word_tokenizer()
    other_system = rows(lambda i: render_prompt(i, system="You are a helpful assistant ."))
    with pytest.raises(TemplateError, match="differs from what `selfalign respond` renders"):
        check_template(other_system, tok, "instruct")
    not_instruct = rows(lambda i: f"Question : {i} Answer :")
    with pytest.raises(TemplateError, match="differs from .* renders .*template='raw'"):
        check_template(not_instruct, tok, "instruct")
    without_instruction = [Row(r.response, None, None, r.prompt) for r in not_instruct]
    with pytest.raises(TemplateError, match="not in the instruct template.*template='raw'"):
        check_template(without_instruction, tok, "instruct")
    check_template(not_instruct, tok, "raw")   # raw trains on them as they are
