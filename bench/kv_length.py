"""Does the length of what the sequences attend over decide the batched decoder's gain?

The same 8 seeded requests (64 new tokens each, temperature 0.8) through the llamacpp backend
one sequence at a time (``parallel = 1``) and 8 at a time (``parallel = 8``), once with prompts
of a few tokens and once with the responses stage's few-shot prompts (about 1,500 tokens).
Completion tokens/s include each run's prompt evaluation, which the long prompts dominate.

    python bench/kv_length.py --model GGUF
"""

from __future__ import annotations

import argparse
import random
import time

from selfalign.generate.pool import load_pool
from selfalign.generate.prompts import response_prompt
from selfalign.llm import Request, SamplingParams, load_llm


def rate(model: str, prompts: list[str], parallel: int) -> tuple[float, int]:
    requests = [Request(p, SamplingParams(temperature=0.8, max_tokens=64, seed=i))
                for i, p in enumerate(prompts)]
    llm = load_llm(model, options={"n_ctx": 8192, "n_threads": 2, "parallel": parallel})
    try:
        llm.generate(requests[:1])                       # warm up: load, first context
        start = time.perf_counter()
        results = llm.generate(requests)
        seconds = time.perf_counter() - start
    finally:
        llm.close()
    tokens = sum(c.completion_tokens for r in results for c in r.completions)
    return tokens / seconds, results[0].completions[0].prompt_tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    pool = load_pool()
    workloads = {"short": [f"def f{i}(x):" for i in range(8)],
                 "long": [response_prompt(pool, random.Random(i), "Write a function that merges "
                                          "two sorted lists.", None, 2) for i in range(8)]}
    with open("/proc/loadavg", encoding="ascii") as f:
        print(f"# bench/kv_length.py; load average at start {f.read().split()[0]}")
    for name, prompts in workloads.items():
        one, size = rate(args.model, prompts, 1)
        eight, _ = rate(args.model, prompts, 8)
        print(f"{name} prompts (~{size} tokens): parallel 1 {one:.1f} tok/s, parallel 8 "
              f"{eight:.1f} tok/s = {eight / one:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
