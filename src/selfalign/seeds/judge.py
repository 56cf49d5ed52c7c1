"""Self-judged docstring filter: the model decides, few-shot, whether a function's docstring is
enough to re-implement it; the majority of sampled answers decides, as in SelfCodeAlign.

The prompt is a plain few-shot completion (base models need no chat template) built from the
examples in ``judge_examples.toml``; answers are one token-ish word, cut at the newline. Each
function's sampling seed is derived from the global seed and the function's content, so a rerun
hits the LLM cache. The trade-off: an answer that is neither Yes nor No counts against keeping
the function (a seed must win a strict majority of Yes), which errs toward fewer seeds.
``SelfJudge`` is the seeds stage's filter: ``judge:no`` with the raw answers.
"""

from __future__ import annotations

import random
import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any, Sequence

from selfalign.llm.base import Request, SamplingParams
from selfalign.quality.filters import Drop, Filter, Item
from selfalign.records import Seed

_HEADER, _ANSWER = "### Function", "### Enough"


@lru_cache(maxsize=1)
def _examples() -> dict[str, Any]:
    text = (resources.files("selfalign.seeds") / "judge_examples.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    if data.get("format") != "selfalign-judge v1":
        raise ValueError("judge_examples.toml: expected format = \"selfalign-judge v1\"")
    return data


def render(code: str) -> str:
    """The full few-shot prompt for one function, ending where the model writes Yes/No."""
    data = _examples()
    parts = [data["instruction"].strip(), ""]
    for example in data["examples"]:
        parts += [_HEADER, "```python", example["code"].strip(), "```", _ANSWER, example["answer"], ""]
    parts += [_HEADER, "```python", code.strip(), "```", _ANSWER, ""]
    return "\n".join(parts)


def parse_answer(text: str) -> bool | None:
    """True for Yes, False for No, None for anything else."""
    first = text.strip().split(maxsplit=1)[0].strip(".,:!").lower() if text.strip() else ""
    return {"yes": True, "no": False}.get(first)


def item_seed(global_seed: int, content_id: str) -> int:
    return random.Random(f"{global_seed}:{content_id}").randrange(2**31)


def judge(llm: Any, items: Sequence[tuple[str, str]], samples: int, temperature: float,
          seed: int) -> list[tuple[bool, list[str]]]:
    """For (id, code) items: (keep, raw answers). Keep iff a strict majority answered Yes."""
    requests = [Request(render(code), SamplingParams(temperature=temperature, max_tokens=4, n=samples,
                                                     stop=("\n",), seed=item_seed(seed, ident)))
                for ident, code in items]
    results = llm.generate(requests)
    out = []
    for result in results:
        answers = [c.text for c in result.completions]
        yes = sum(parse_answer(a) is True for a in answers)
        out.append((yes * 2 > len(answers), answers))
    return out


class SelfJudge(Filter[Item]):
    """Asks ``llm`` about ``batch_size`` functions per generate() call; drops the ones whose
    docstring a majority of answers finds not enough."""

    name = "judge"

    def __init__(self, llm: Any, samples: int, temperature: float, seed: int, batch_size: int) -> None:
        self.llm, self.samples, self.temperature, self.seed = llm, samples, temperature, seed
        self.batch_size = batch_size

    def decide(self, items: Sequence[Item]) -> list[Drop | None]:
        # The content id seeds the sampling, so a rerun asks the same requests (cache hits).
        pairs = [(Seed(content=item.text).id, item.text) for item in items]
        verdicts = judge(self.llm, pairs, self.samples, self.temperature, self.seed)
        return [None if keep else Drop("judge:no", f"answers: {answers}") for keep, answers in verdicts]
