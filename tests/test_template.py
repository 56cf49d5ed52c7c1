import re

import pytest

from conftest import REPO
from selfalign.template import SYSTEM, cut_response, render_prompt

PIPELINE_MD = REPO.parent / "shared" / "PIPELINE.md"


def _template_from_pipeline_md() -> str:
    text = PIPELINE_MD.read_text()
    match = re.search(r"one-sentence system line \+ `([^`]+)`", text)
    assert match, "PIPELINE.md no longer states the template"
    return match.group(1).encode().decode("unicode_escape")


@pytest.mark.skipif(not PIPELINE_MD.exists(), reason="shared/PIPELINE.md not beside the repo")
def test_prompt_matches_the_documented_template_exactly():
    template = _template_from_pipeline_md()
    assert template == "\n\n### Instruction\n{instruction}\n\n### Response\n"
    instruction = "Write a function `add(a, b)` that returns a + b."
    assert render_prompt(instruction) == SYSTEM + template.format(instruction=instruction)


def test_system_line_is_one_sentence():
    assert SYSTEM.count(".") == 1 and SYSTEM.endswith(".") and "\n" not in SYSTEM


def test_prefix_is_appended_for_the_model_to_continue():
    prompt = render_prompt("Sort a list.", "```python\ndef sort_list(xs):\n")
    assert prompt.endswith("### Response\n```python\ndef sort_list(xs):\n")


def test_answer_is_prefix_plus_text_cut_at_marker():
    assert cut_response("```python\n", "x = 1\n```\n### Instruction\nmore") == "```python\nx = 1\n```\n"
    assert cut_response("", "no marker here") == "no marker here"
