"""The instruct template the fine-tuned model is trained on and prompted with.

Layout (docs/method.md, "The instruct template"): BOS + one system sentence + ``\\n\\n### Instruction\\n{instruction}
\\n\\n### Response\\n`` then the response + EOS. BOS and EOS are tokens, not text: the tokenizer adds
BOS when it encodes the prompt and the trainer appends EOS, so the text forms here carry neither and
work for any tokenizer. The system sentence is ours; pass ``system=`` to match another model's card.
"""

from __future__ import annotations

SYSTEM = ("You are a careful coding assistant who answers each instruction with correct, "
          "tested code and a short explanation.")
INSTRUCTION_HEADER = "### Instruction"
RESPONSE_HEADER = "### Response"
STOP = "###"


def render_prompt(instruction: str, response_prefix: str = "", system: str = SYSTEM) -> str:
    """The prompt text up to the response, with ``response_prefix`` appended for the model to continue."""
    return f"{system}\n\n{INSTRUCTION_HEADER}\n{instruction}\n\n{RESPONSE_HEADER}\n{response_prefix}"


def cut_response(response_prefix: str, generated: str) -> str:
    """The answer as the user sees it: prefix + generated text cut at the first ``###``."""
    return response_prefix + generated.split(STOP, 1)[0]
