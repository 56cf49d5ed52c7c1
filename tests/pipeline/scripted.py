"""A scripted "model" behind a real OpenAI-compatible loopback server, for pipeline tests.

It answers each of the three few-shot prompts in the expected shape, deterministically from the
prompt, the seed and the sample index, so pipeline mechanics (chunks, resume, dedup, funnel) are
tested end to end over real HTTP, real files and the real sandbox without waiting on a real model.
A third of the answers carry a wrong assertion, and every test sleeps a little so the execute
stage runs long enough to be killed in the middle.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "llm"))
from servers import FakeOpenAIServer  # noqa: E402


def _tag(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:8]


def scripted_text(prompt: str, seed: Any, index: int, sleep_s: float) -> str:
    last = prompt.rsplit("## Example", 1)[-1]
    tag = _tag(last, seed, index)
    if prompt.endswith("Concepts:"):
        return f" loops, accumulation, tag {tag}\n"
    if prompt.endswith("Instruction:\n"):
        return (f"Write a function `total_{tag}(xs)` that returns the sum of the integers in xs, "
                "and 0 for an empty list.\n\n## Example 99\n")
    name = last.split("`", 2)[1].split("(")[0] if "`" in last else "total"
    expected = "6" if int(tag, 16) % 3 else "7"  # one answer in three is wrong
    return (f"Reasoning: add the items of the list one by one.\n\nSolution:\n```python\n"
            f"def {name}(xs):\n    return sum(xs)\n```\n\nTests:\n```python\nimport time\n"
            f"time.sleep({sleep_s})\nassert {name}([1, 2, 3]) == {expected}\nassert {name}([]) == 0\n```\n"
            "## Example 99\n")


class ScriptedServer(FakeOpenAIServer):
    def __init__(self, sleep_s: float = 0.0, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.sleep_s = sleep_s

    def answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        import time

        time.sleep(self.delay)
        prompt, stops = str(payload["prompt"]), list(payload.get("stop") or [])
        choices = []
        for i in range(int(payload.get("n", 1))):
            text = scripted_text(prompt, payload.get("seed"), i, self.sleep_s)
            cut = min((text.index(s) for s in stops if s in text), default=len(text))
            choices.append({"index": i, "text": text[:cut], "finish_reason": "stop"})
        return {"choices": choices, "usage": {"prompt_tokens": len(prompt.split()),
                                              "completion_tokens": sum(len(c["text"].split()) for c in choices)}}
