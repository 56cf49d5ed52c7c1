"""Batched decoding in the llamacpp backend against raw llama-cpp-python, on the responses stage's
workload shape.

Workload: few-shot I->R prompts built by ``selfalign.generate.prompts.response_prompt`` from the
packaged pool (one example, completion format), each asked for ``n`` samples (default 4) at
temperature 0.8 with ``max_tokens`` 256, seed per request, stop at the next ``## `` header.

Variants, in one process, same model file, context, threads and batch size:
  raw      one ``llama_cpp.Llama``: ``create_completion`` per sample (seed + i), one sequence at a
           time; the binding's fast path (it reuses the prompt's KV cells for samples 2..n).
  loop     selfalign's llamacpp backend with ``parallel = 1`` (today's path; --with-loop).
  par=K    selfalign's llamacpp backend with ``parallel = K``: up to K sequences decoded together.
Rounds alternate the variants (ABC, then CBA, ...) so load changes on a shared machine land on
all of them; the load average is printed each round. Each line: completion tokens per second of
wall time, prompt + completion tokens per second, and completion tokens per CPU-second of this
process (the fairer number on a busy machine). The ratio column is against ``raw``.

Usage: python bench/batching.py [--model PATH] [--requests 8] [--n 4] [--max-tokens 256]
       [--parallel 1,2,4,8,16] [--rounds 2] [--threads N] [--with-loop]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import defaultdict

from selfalign.generate.pool import load_pool
from selfalign.generate.prompts import STOPS, response_prompt
from selfalign.llm import Request, SamplingParams, embedded_model_path, load_llm

INSTRUCTIONS = [
    "Write a Python function that returns the n-th Fibonacci number iteratively.",
    "Write a function that checks whether a string is a palindrome, ignoring case.",
    "Write a function that merges two sorted lists into one sorted list.",
    "Write a function that counts word frequencies in a text and returns a dict.",
    "Write a function that flattens a nested list of integers.",
    "Write a function that returns the longest common prefix of a list of strings.",
    "Write a function that rotates a list by k positions to the right.",
    "Write a function that converts a Roman numeral to an integer.",
    "Write a function that removes duplicates from a list while keeping order.",
    "Write a function that computes the running mean of a list of numbers.",
    "Write a function that transposes a matrix given as a list of lists.",
    "Write a function that validates a simple email address with a regular expression.",
    "Write a function that groups strings by their first letter.",
    "Write a function that sums the digits of an integer.",
    "Write a function that parses a comma-separated line into fields, honouring quotes.",
    "Write a function that finds the largest element of a list without using max().",
]


def workload(count: int, n: int, max_tokens: int, temperature: float) -> list[Request]:
    pool = load_pool()
    reqs = []
    for i in range(count):
        prompt = response_prompt(pool, random.Random(1000 + i), INSTRUCTIONS[i % len(INSTRUCTIONS)],
                                 None, 1)
        reqs.append(Request(prompt, SamplingParams(temperature=temperature, max_tokens=max_tokens,
                                                   stop=STOPS, n=n, seed=100 + i)))
    return reqs


def run_raw(llama, reqs: list[Request]) -> tuple[int, int]:
    """create_completion per sample, as the binding is used on its own."""
    prompt_tokens = completion_tokens = 0
    for r in reqs:
        p = r.params
        tokens = llama.tokenize(r.prompt.encode("utf-8"), add_bos=True, special=True)
        for i in range(p.n):
            out = llama.create_completion(tokens, max_tokens=p.max_tokens, temperature=p.temperature,
                                          top_p=p.top_p, top_k=0, min_p=0.0, stop=list(p.stop),
                                          seed=p.seed + i)
            prompt_tokens += out["usage"]["prompt_tokens"]
            completion_tokens += out["usage"]["completion_tokens"]
    return prompt_tokens, completion_tokens


def run_backend(llm, reqs: list[Request]) -> tuple[int, int]:
    results = llm.generate(reqs)
    cs = [c for r in results for c in r.completions]
    return sum(c.prompt_tokens for c in cs), sum(c.completion_tokens for c in cs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="GGUF file (default: the embedded model)")
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--parallel", default="1,2,4,8,16", help="comma-separated sequences in flight")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--with-loop", action="store_true", help="also time selfalign with parallel=1")
    args = ap.parse_args()

    model = args.model or str(embedded_model_path())
    threads = args.threads or os.cpu_count() or 1
    reqs = workload(args.requests, args.n, args.max_tokens, args.temperature)
    base = {"n_ctx": args.n_ctx, "n_threads": threads}
    widths = [int(x) for x in args.parallel.split(",")]
    backends = {f"par={k}": load_llm(model, "llamacpp", {**base, "parallel": k}) for k in widths
                if k > 1}
    if args.with_loop or 1 in widths:
        backends["loop"] = load_llm(model, "llamacpp", {**base, "parallel": 1})
    raw = next(iter(backends.values()))._llama     # same file, context, threads, batch size
    variants = {"raw": lambda: run_raw(raw, reqs)}
    variants.update({name: (lambda llm=llm: run_backend(llm, reqs)) for name, llm in backends.items()})
    print(f"model {os.path.basename(model)}, {len(reqs)} requests x n={args.n}, max_tokens "
          f"{args.max_tokens}, temperature {args.temperature}, threads {threads}")

    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0, 0])
    order = list(variants)
    for rnd in range(args.rounds):
        for name in (order if rnd % 2 == 0 else order[::-1]):
            wall0, cpu0 = time.perf_counter(), time.process_time()
            pt, ct = variants[name]()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            t = totals[name]
            t[0] += wall; t[1] += cpu; t[2] += pt; t[3] += ct
            print(f"round {rnd + 1} {name:7s} {ct / wall:7.1f} completion tok/s  ({ct} tokens, "
                  f"{wall:.1f} s wall, {cpu:.1f} s CPU)  load {os.getloadavg()[0]:.1f}", flush=True)

    ref = totals["raw"][3] / totals["raw"][0]
    ref_cpu = totals["raw"][3] / totals["raw"][1]
    print(f"\n| variant | completion tok/s | prompt+completion tok/s | completion tok/CPU-s "
          f"| x raw (wall) | x raw (CPU) |\n|---|---|---|---|---|---|")
    for name in order:
        wall, cpu, pt, ct = totals[name]
        print(f"| {name} | {ct / wall:.1f} | {(pt + ct) / wall:.1f} | {ct / cpu:.1f} "
              f"| {ct / wall / ref:.2f} | {ct / cpu / ref_cpu:.2f} |")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for llm in backends.values():
        llm.close()


if __name__ == "__main__":
    main()
