"""Single-turn inference with the instruct template: ``respond(instruction, response_prefix)``.

The prefix (a code fence, a function signature) is appended to the prompt so the model continues
from it, generation stops at EOS or ``###``, and the answer is the prefix + the text before ``###``.
"""

from __future__ import annotations

from selfalign.llm import LLM, Request, SamplingParams, load_llm
from selfalign.template import STOP, SYSTEM, cut_response, render_prompt


def respond(instruction: str, response_prefix: str = "", *, llm: LLM | None = None,
            model: str | None = None, max_tokens: int = 1024, temperature: float = 0.0,
            seed: int | None = None, system: str = SYSTEM) -> str:
    """Answer one instruction; loads ``model`` (default: the embedded one) unless ``llm`` is given."""
    owned = llm is None
    llm = llm or load_llm(model)
    try:
        params = SamplingParams(temperature=temperature, max_tokens=max_tokens, stop=(STOP,), seed=seed)
        result = llm.generate([Request(render_prompt(instruction, response_prefix, system), params)])
        return cut_response(response_prefix, result[0].completions[0].text)
    finally:
        if owned:
            llm.close()
