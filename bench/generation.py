"""Generation throughput of the default backend against the model card's transformers loop.

Runs, in one process and on the same prompts with the same token limit (greedy):
  1. selfalign's default backend (``load_llm()``: llama.cpp on the embedded SmolLM2-135M GGUF);
  2. the model card's usage: ``AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)`` and
     ``model.generate`` one prompt at a time (the baseline);
  3. optionally (``--with-transformers-backend``) selfalign's batched transformers backend.
It prints generated tokens per second of wall time and per CPU-second of this process for each,
and the ratios of (1) to (2). The aim is >= 4x. On a machine shared with other busy processes the
wall-clock rates collapse (spinning threads wait for a core), so read the CPU-time ratio there and
pass ``--threads 1``.

Usage: python bench/generation.py [--prompts 16] [--max-tokens 64] [--threads N]
The default run takes about a minute or two on a 2-core laptop; model loading is not timed.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from selfalign.llm import Request, SamplingParams, embedded_model_path, load_llm

TOPICS = [
    "reverse a string", "check whether a number is prime", "merge two sorted lists",
    "count the vowels in a word", "compute a factorial", "flatten a nested list",
    "find the largest element of a list", "convert Celsius to Fahrenheit",
    "remove duplicates while keeping order", "compute the nth Fibonacci number",
    "check whether a string is a palindrome", "sum the digits of an integer",
    "transpose a matrix", "count word frequencies in a text", "compute a running mean",
    "group strings by their first letter", "rotate a list by k positions",
    "parse a comma separated line", "find the longest common prefix", "validate an email address",
]


def prompts(count: int) -> list[str]:
    """Instruction-style prompts in the pipeline's template, cycling over a fixed topic list."""
    return [f"### Instruction\nWrite a Python function to {TOPICS[i % len(TOPICS)]}.\n\n"
            f"### Response\n" for i in range(count)]


class Timer:
    """Wall time and this process's CPU time (all threads) of a block."""

    def __enter__(self) -> "Timer":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def bench_selfalign(llm, texts: list[str], max_tokens: int) -> tuple[int, Timer]:
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    llm.generate([Request(texts[0], SamplingParams(max_tokens=4))])   # warm-up, not timed
    with Timer() as timer:
        results = llm.generate([Request(t, params) for t in texts])
    return sum(c.completion_tokens for r in results for c in r.completions), timer


def bench_model_card_loop(gguf_path: str, texts: list[str],
                          max_tokens: int) -> tuple[int, Timer]:
    """The model card's usage: from_pretrained(dir, gguf_file=…), one prompt at a time."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = Path(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    model.generate(**tokenizer(texts[0], return_tensors="pt"), max_new_tokens=4)   # warm-up
    tokens = 0
    with Timer() as timer, torch.inference_mode():
        for text in texts:
            inputs = tokenizer(text, return_tensors="pt")
            out = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False,
                                 pad_token_id=tokenizer.eos_token_id)
            tokens += out.shape[1] - inputs["input_ids"].shape[1]
    return tokens, timer


def report(label: str, tokens: int, timer: Timer) -> tuple[float, float]:
    """Print and return (tokens per wall second, tokens per CPU second)."""
    wall, cpu = tokens / timer.wall, tokens / max(timer.cpu, 1e-9)
    print(f"{label:<46} {tokens:>5} tokens {timer.wall:>6.1f} s {wall:>7.1f} tok/s "
          f"{cpu:>7.1f} tok/cpu-s", flush=True)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=16, help="number of prompts")
    parser.add_argument("--max-tokens", type=int, default=64, help="new tokens per prompt")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="CPU threads for both llama.cpp and torch")
    parser.add_argument("--with-transformers-backend", action="store_true",
                        help="also time selfalign's batched transformers backend")
    args = parser.parse_args()
    texts, gguf = prompts(args.prompts), embedded_model_path()
    print(f"model: {gguf}\n{args.prompts} prompts x {args.max_tokens} max new tokens, greedy, "
          f"{args.threads} threads")

    llm = load_llm(options={"n_threads": args.threads})
    fast = report(f"selfalign default backend ({llm.backend})",
                  *bench_selfalign(llm, texts, args.max_tokens))
    llm.close()

    import torch
    torch.set_num_threads(args.threads)
    base = report("model card: transformers, one prompt at a time",
                  *bench_model_card_loop(gguf, texts, args.max_tokens))
    if args.with_transformers_backend:
        hf = load_llm(gguf, backend="transformers",
                      options={"batch_size": 8, "threads": args.threads})
        report("selfalign transformers backend (batch 8)",
               *bench_selfalign(hf, texts, args.max_tokens))
    print(f"ratio default backend / model card loop: {fast[0] / base[0]:.1f}x wall clock, "
          f"{fast[1] / base[1]:.1f}x per CPU-second (aim: >= 4x)")


if __name__ == "__main__":
    main()
