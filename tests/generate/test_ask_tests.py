"""responses.ask_tests: an answer that ends after its solution with no tests is continued once
for them, over a real loopback OpenAI-compatible server; everything else is left as it was."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from selfalign.generate.config import ResponsesConfig
from selfalign.generate.parse import strip_tests
from selfalign.generate.pool import Example, Pool
from selfalign.llm.base import Completion
from selfalign.llm.openai import OpenAILLM, OpenAIOptions
from selfalign.pipeline import step_digests
from selfalign.records import Dropped, Instruction, Response
from selfalign.settings import Config
from selfalign.stages.responses import TESTS_CUE, ResponsesStage, count_tests_asked, wants_tests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "llm"))
from servers import FakeOpenAIServer  # noqa: E402

EXAMPLE = Example(name="one", category="function", difficulty="easy", language="Python",
                  seed="def double(x):\n    return 2 * x", concepts=("arithmetic",),
                  instruction="Write `triple(x)` that returns three times x.",
                  response="Solution:\n```python\ndef triple(x):\n    return 3 * x\n```\n\nTests:\n"
                           "```python\nassert triple(2) == 6\n```")
POOL = Pool((EXAMPLE,), {"concepts": "c", "instructions": "i", "responses": "Answer the task."})
SOLUTION_ONLY = "Reasoning: add them.\n\nSolution:\n```python\ndef add(a, b):\n    return a + b\n```\n"
TESTS = "assert add(1, 2) == 3\nassert add(0, 0) == 0\n```\nThese tests check the sums.\n"


class CueServer(FakeOpenAIServer):
    """Answers the task with its solution only; asked for tests (the prompt ends with the
    cue), writes them, then a closing fence and prose that the stop sequence must cut."""

    def __init__(self, tests: str = TESTS) -> None:
        super().__init__()
        self.tests = tests

    def answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        prompt, stops = str(payload["prompt"]), list(payload.get("stop") or [])
        text = self.tests if prompt.endswith(TESTS_CUE) else SOLUTION_ONLY
        words = text.split(" ")
        limit = int(payload.get("max_tokens", 16))
        reason = "length" if len(words) > limit else "stop"
        text = " ".join(words[:limit])
        cut = min((text.index(s) for s in stops if s in text), default=None)
        if cut is not None:
            text, reason = text[:cut], "stop"
        choices = [{"index": i, "text": text, "finish_reason": reason} for i in range(int(payload.get("n", 1)))]
        return {"choices": choices, "usage": {"prompt_tokens": len(prompt.split()),
                                              "completion_tokens": len(text.split()) * len(choices)}}


INSTRUCTION = Instruction(parent_id="c1", seed_id="s1", instruction="Write `add(a, b)` that adds two numbers.",
                          properties={"category": "function"})


def run_stage(server: FakeOpenAIServer, **settings: Any) -> list[Response | Dropped]:
    cfg = ResponsesConfig(fewshot=1, n=2, format="completion", **settings)
    llm = OpenAILLM(server.url, OpenAIOptions(retries=0))
    return list(ResponsesStage(cfg, 0, llm, POOL).run([(3, INSTRUCTION)]))


def test_off_by_default_an_answer_without_tests_is_dropped_and_nothing_more_is_asked():
    with CueServer() as server:
        out = run_stage(server)
    assert [d.reason for d in out] == ["no_tests", "no_tests"] and len(server.requests) == 1
    assert all("tests_asked" not in d.record for d in out)


def test_an_answer_lacking_only_tests_is_continued_for_them():
    with CueServer() as server:
        out = run_stage(server, ask_tests=True, tests_max_tokens=40)
    assert all(isinstance(r, Response) for r in out) and len(out) == 2
    assert [r.tests for r in out] == ["assert add(1, 2) == 3\nassert add(0, 0) == 0"] * 2
    assert all(r.solution == "def add(a, b):\n    return a + b" and r.meta["tests_asked"] for r in out)
    # the training response is the answer as the model first ended it
    assert all(strip_tests(r.response) == SOLUTION_ONLY.strip() for r in out)
    first = server.requests[0]
    followups = [p for p in server.requests if str(p["prompt"]).endswith(TESTS_CUE)]
    assert len(followups) == 2 and all(p["max_tokens"] == 40 and "```" in p["stop"] for p in followups)
    assert all(p["prompt"] == first["prompt"] + SOLUTION_ONLY.rstrip() + TESTS_CUE for p in followups)
    assert len({p["seed"] for p in followups}) == 2 and first["seed"] not in {p["seed"] for p in followups}


def test_tests_that_run_past_their_budget_are_dropped_as_truncated():
    with CueServer() as server:
        out = run_stage(server, ask_tests=True, tests_max_tokens=3)
    assert [d.reason for d in out] == ["truncated", "truncated"]
    assert all(d.record["tests_asked"] and TESTS_CUE in d.record["raw"] for d in out)


def test_tests_without_an_assert_stay_a_no_tests_drop():
    with CueServer(tests="print(add(1, 2))\n```\n") as server:
        out = run_stage(server, ask_tests=True)
    assert [d.reason for d in out] == ["no_tests", "no_tests"] and all(d.record["tests_asked"] for d in out)


@pytest.mark.parametrize("text, finish, asked", [
    (SOLUTION_ONLY, "stop", True),
    (SOLUTION_ONLY, "length", False),                                   # truncated: never continued
    ("Just prose, no code.", "stop", False),                            # no solution to test
    (SOLUTION_ONLY + "\nTests:\n```python\nprint(1)\n```\n", "stop", False),   # wrote a tests block
    (SOLUTION_ONLY + "\nTests:\n```python\nassert add(1, 1) == 2\n```\n", "stop", False),  # has tests
    ("Solution:\n```python\ndef add(a, b) return a\n```\n", "stop", False),     # solution does not parse
])
def test_which_answers_are_continued(text, finish, asked):
    assert wants_tests(Completion(text, finish)) is asked


def test_the_setting_leaves_recorded_digests_alone_until_it_is_used(tmp_path):
    base = Config()
    assert "ask_tests" not in repr(base.responses) and "tests_max_tokens" not in repr(base.responses)
    on = Config(responses=ResponsesConfig(ask_tests=True))
    before, after = step_digests(base), step_digests(on)
    assert before["instructions"] == after["instructions"] and before["responses"] != after["responses"]
    assert before["execute"] != after["execute"]      # everything downstream follows


def test_the_manifest_counts_the_answers_asked_for_tests(tmp_path):
    with CueServer() as server:
        kept = run_stage(server, ask_tests=True)
    with CueServer(tests="print(1)\n```\n") as server:
        dropped = run_stage(server, ask_tests=True)
    (tmp_path / "responses.jsonl").write_text("".join(json.dumps(r.to_dict()) + "\n" for r in kept))
    (tmp_path / "responses.dropped.jsonl").write_text("".join(json.dumps(d.to_dict()) + "\n" for d in dropped))
    assert count_tests_asked(tmp_path) == {"asked": 4, "kept": 2}
    assert ResponsesStage.summary(tmp_path)["tests_asked"] == {"asked": 4, "kept": 2}
