"""Chat templates rendered into prompt text: literal Jinja templates written here, each backend's
way of finding its template, and the embedded GGUF model's own template."""

from __future__ import annotations

import pytest

from selfalign.llm.base import LLMError
from selfalign.llm.chat import (ChatTemplateError, fold_system, render_messages, render_template, strip_bos,
                                turn_end)
from selfalign.llm.openai import OpenAILLM, OpenAIOptions

from chat_templates import CHATML, LLAMA  # noqa: E402

# A template that, like some models' own, accepts only user and assistant turns.
NO_SYSTEM = ("{% for m in messages %}{% if m['role'] == 'system' %}"
             "{{ raise_exception('System role not supported') }}{% endif %}"
             "{{ '<turn>' + m['role'] + ': ' + m['content'] + '</turn>' }}{% endfor %}"
             "{% if add_generation_prompt %}{{ '<turn>assistant: ' }}{% endif %}")
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"}, {"role": "user", "content": "3+3?"}]


def test_chatml_renders_every_turn_then_opens_the_assistant_turn():
    assert render_template(CHATML, MESSAGES) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
        "<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\n3+3?<|im_end|>\n<|im_start|>assistant\n")
    assert not render_template(CHATML, MESSAGES, add_generation_prompt=False).endswith("assistant\n")


def test_llama_style_template_gets_bos_and_the_backend_can_drop_it():
    text = render_template(LLAMA, MESSAGES[:2], bos_token="<|begin_of_text|>")
    assert text == ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                    "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert strip_bos(text, "<|begin_of_text|>", adds_bos=True) == text[len("<|begin_of_text|>"):]
    assert strip_bos(text, "<|begin_of_text|>", adds_bos=False) == text


def test_turn_end_is_the_text_after_an_assistant_turn():
    assert turn_end(lambda m, g: render_template(CHATML, m, add_generation_prompt=g)) == "<|im_end|>"
    assert turn_end(lambda m, g: render_template(LLAMA, m, add_generation_prompt=g)) == "<|eot_id|>"
    plain = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    assert turn_end(lambda m, g: render_template(plain, m, add_generation_prompt=g)) == ""


def test_a_template_that_refuses_a_system_turn_gets_it_in_the_first_user_turn():
    with pytest.raises(ChatTemplateError, match="System role not supported"):
        render_template(NO_SYSTEM, MESSAGES)
    text = render_messages(lambda m, g: render_template(NO_SYSTEM, m, add_generation_prompt=g), MESSAGES)
    assert text.startswith("<turn>user: Be brief.\n\n2+2?</turn><turn>assistant: 4</turn>")
    assert fold_system(MESSAGES[1:]) == MESSAGES[1:]          # nothing to fold


def test_a_broken_template_is_a_clear_error():
    with pytest.raises(ChatTemplateError, match="could not be rendered"):
        render_template("{% for m in messages %}", MESSAGES)


def test_server_backend_renders_the_template_file_it_is_given(tmp_path):
    template = tmp_path / "chat_template.jinja"
    template.write_text(CHATML)
    llm = OpenAILLM("http://127.0.0.1:9/v1", OpenAIOptions(chat_template=str(template)))
    assert llm.chat_template() == CHATML
    assert llm.render_chat(MESSAGES[1:2]) == "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
    assert llm.chat_stops() == ("<|im_end|>",)
    assert llm.options.output_options() == {"model_name": "default"}   # the prompt carries it


def test_server_backend_without_a_template_refuses_chat():
    llm = OpenAILLM("http://127.0.0.1:9/v1", OpenAIOptions())
    assert llm.chat_template() is None and llm.chat_stops() == ()
    with pytest.raises(LLMError, match="no chat template"):
        llm.render_chat(MESSAGES)
    missing = OpenAILLM("http://127.0.0.1:9/v1", OpenAIOptions(chat_template="/nonexistent.jinja"))
    with pytest.raises(LLMError, match="cannot read"):
        missing.chat_template()


@pytest.mark.slow
def test_embedded_model_renders_its_gguf_template(embedded_llm):
    """SmolLM2-Instruct's template, read from the GGUF, gives the ChatML layout of its model card,
    the same text llama-cpp-python's own chat formatter makes of it."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = embedded_llm.chat_template()
    assert template and "<|im_start|>" in template
    text = embedded_llm.render_chat(MESSAGES)
    assert text == render_template(CHATML, MESSAGES)
    theirs = Jinja2ChatFormatter(template, eos_token="<|im_end|>", bos_token="<|im_start|>")
    assert theirs(messages=MESSAGES).prompt == text
    assert embedded_llm.chat_stops() == ("<|im_end|>",)
    # Without a system turn the template adds its own default one.
    assert embedded_llm.render_chat(MESSAGES[1:2]).startswith("<|im_start|>system\nYou are a helpful")
