"""The few-shot prompt builders in both formats, on a literal pool and literal chat templates,
and how a generation stage chooses its format."""

from __future__ import annotations

import json
import random

import pytest

from selfalign.generate.config import ConceptsConfig, ResponsesConfig
from selfalign.generate.pool import Example, Pool
from selfalign.generate.prompts import (STOPS, concepts_prompt, concepts_shots, instruction_shots,
                                        response_prompt, response_shots)
from selfalign.llm.base import LLMError
from selfalign.llm.chat import render_template
from selfalign.llm.openai import OpenAILLM, OpenAIOptions
from selfalign.stages.generation import prompt_format, render, stops

from chat_templates import CHATML, LLAMA  # noqa: E402

EXAMPLE = Example(name="one", category="function", difficulty="easy", language="Python",
                  seed="def double(x):\n    return 2 * x", concepts=("arithmetic", "functions"),
                  instruction="Write `triple(x)` that returns three times x.",
                  response="Solution:\n```python\ndef triple(x):\n    return 3 * x\n```")
POOL = Pool((EXAMPLE,), {"concepts": "Name the concepts.", "instructions": "Write a task.",
                         "responses": "Answer the task."})


def test_completion_prompt_leaves_the_new_block_open():
    prompt = concepts_prompt(POOL, random.Random(0), "def f(a):\n    return a", 1)
    assert prompt == ("Name the concepts.\n\n## Example 1\nSnippet:\n```python\ndef double(x):\n"
                      "    return 2 * x\n```\nConcepts: arithmetic, functions\n\n## Example 2\n"
                      "Snippet:\n```python\ndef f(a):\n    return a\n```\nConcepts:")
    assert response_prompt(POOL, random.Random(0), "Do it.", "function", 1).endswith(
        "## Example 2\nInstruction:\nDo it.\n\nResponse:\n")


def test_chat_messages_are_system_then_one_exchange_per_example_then_the_new_item():
    shots = instruction_shots(POOL, random.Random(0), {"category": "class", "difficulty": "hard",
                                                       "concepts": ["queues"]}, 1)
    assert shots.messages() == [
        {"role": "system", "content": "Write a task."},
        {"role": "user", "content": "Category: function\nDifficulty: easy\nConcepts: arithmetic, functions"},
        {"role": "assistant", "content": "Write `triple(x)` that returns three times x."},
        {"role": "user", "content": "Category: class\nDifficulty: hard\nConcepts: queues"}]


def test_both_formats_show_the_same_examples():
    pool = Pool(tuple(Example(**{**EXAMPLE.__dict__, "name": str(i), "seed": f"def f{i}(): return {i}"})
                      for i in range(6)), POOL.system)
    shots = concepts_shots(pool, random.Random(3), "def g(): return 0", 3)
    chat_snippets = [m["content"] for m in shots.messages() if m["role"] == "user"][:-1]
    completion = shots.completion()
    assert len(chat_snippets) == 3 and all(s in completion for s in chat_snippets)
    assert completion == concepts_prompt(pool, random.Random(3), "def g(): return 0", 3)


def test_chat_prompt_in_a_chatml_template():
    shots = response_shots(POOL, random.Random(0), "Write `half(x)`.", "function", 1)
    assert render_template(CHATML, shots.messages()) == (
        "<|im_start|>system\nAnswer the task.<|im_end|>\n"
        "<|im_start|>user\nInstruction:\nWrite `triple(x)` that returns three times x.<|im_end|>\n"
        "<|im_start|>assistant\nSolution:\n```python\ndef triple(x):\n    return 3 * x\n```<|im_end|>\n"
        "<|im_start|>user\nInstruction:\nWrite `half(x)`.<|im_end|>\n<|im_start|>assistant\n")


def test_chat_prompt_in_a_llama_style_template():
    shots = concepts_shots(POOL, random.Random(0), "def f(a):\n    return a", 1)
    text = render_template(LLAMA, shots.messages(), bos_token="<|begin_of_text|>")
    assert text == ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                    "Name the concepts.<|eot_id|>"
                    "<|start_header_id|>user<|end_header_id|>\n\nSnippet:\n```python\ndef double(x):\n"
                    "    return 2 * x\n```<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
                    "arithmetic, functions<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
                    "Snippet:\n```python\ndef f(a):\n    return a\n```<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n")


def _server_llm(tmp_path, template: str | None) -> OpenAILLM:
    path = None
    if template is not None:
        path = tmp_path / "t.jinja"
        path.write_text(template)
    return OpenAILLM("http://127.0.0.1:9/v1", OpenAIOptions(chat_template=path and str(path)))


def test_auto_is_chat_when_the_model_has_a_template(tmp_path):
    with_template, without = _server_llm(tmp_path, LLAMA), _server_llm(tmp_path, None)
    assert prompt_format(with_template, "auto", "concepts") == "chat"
    assert prompt_format(without, "auto", "concepts") == "completion"
    assert prompt_format(with_template, "completion", "concepts") == "completion"
    with pytest.raises(LLMError, match="concepts.format = 'chat'.*no chat template"):
        prompt_format(without, "chat", "concepts")


def test_each_format_gets_its_own_stops_and_prompt(tmp_path):
    llm = _server_llm(tmp_path, CHATML)
    shots = concepts_shots(POOL, random.Random(0), "def f(a):\n    return a", 1)
    assert stops(llm, "chat", STOPS) == ("<|im_end|>",)
    assert stops(llm, "completion", STOPS) == STOPS
    assert stops(llm, "chat", (), both=("\n",)) == ("\n", "<|im_end|>")
    assert render(llm, shots, "chat").endswith("<|im_start|>assistant\n")
    assert render(llm, shots, "completion") == shots.completion()


def test_format_is_checked_when_the_config_is_built():
    assert ConceptsConfig().format == "auto"
    with pytest.raises(ValueError, match="responses.format must be one of auto, completion, chat"):
        ResponsesConfig(format="instruct")


def test_a_stage_prompts_in_chat_and_records_the_format(tmp_path):
    """The concepts stage against a loopback server: the request is the ChatML rendering with both
    stops, and what comes back carries the format (kept records and drops alike)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "llm"))
    from servers import FakeOpenAIServer

    from selfalign.records import Dropped, Seed
    from selfalign.stages.concepts import ConceptsStage
    from selfalign.stages.generation import formats_used

    seed = Seed(content="def f(a):\n    return a")
    with FakeOpenAIServer() as server:
        template = tmp_path / "t.jinja"
        template.write_text(CHATML)
        llm = OpenAILLM(server.url, OpenAIOptions(chat_template=str(template), retries=0))
        out = list(ConceptsStage(ConceptsConfig(fewshot=1), 0, llm, POOL).run([(0, seed)]))
    sent = server.requests[-1]
    assert sent["prompt"].startswith("<|im_start|>system\nName the concepts.<|im_end|>\n")
    assert sent["prompt"].endswith("<|im_start|>user\nSnippet:\n```python\ndef f(a):\n    return a\n```"
                                   "<|im_end|>\n<|im_start|>assistant\n")
    assert sent["stop"] == ["\n", "<|im_end|>"]
    (made,) = out
    fields = made.record if isinstance(made, Dropped) else made.meta
    assert fields["format"] == "chat"
    name = "concepts.dropped.jsonl" if isinstance(made, Dropped) else "concepts.jsonl"
    (tmp_path / name).write_text(json.dumps(made.to_dict()) + "\n")
    assert formats_used(tmp_path, "concepts") == {"format": ["chat"]}


def test_a_dropped_response_carries_the_instruction_it_answered():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "llm"))
    from servers import FakeOpenAIServer

    from selfalign.records import Dropped, Instruction
    from selfalign.stages.responses import ResponsesStage

    ins = Instruction(parent_id="c1", seed_id="s1", instruction="Write add(a, b).",
                      properties={"category": "function"})
    with FakeOpenAIServer() as server:     # answers prose: no code block, so a no_code drop
        llm = OpenAILLM(server.url, OpenAIOptions(retries=0))
        out = list(ResponsesStage(ResponsesConfig(fewshot=1, n=2, format="completion"), 0, llm,
                                  POOL).run([(0, ins)]))
    assert [d.reason for d in out] == ["no_code", "no_code"] and all(isinstance(d, Dropped) for d in out)
    assert all(d.record["instruction"] == "Write add(a, b)." and d.record["parent_id"] == ins.id
               for d in out)
