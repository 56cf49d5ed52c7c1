"""Which limit binds batched decoding on this machine (issue 14): the memory traffic of the
weights, or the matmul rate?

Three rates, measured in one process with the same threads:

- memory read bandwidth: numpy sums of a 1 GiB array split over the threads (best of 5);
- decode at one sequence: greedy tokens/s through llama-cpp-python; every token reads all the
  weights once, so tokens/s x the GGUF's size is the weight traffic it needs;
- decode sampled at temperature 0.8 / top_p 0.95 over the full vocabulary, as the pipeline
  samples: the difference to greedy is the sampler's cost per token, which every sequence of a
  batch pays on its own;
- prompt evaluation: tokens/s of a 512-token prompt decoded as one batch, where every weight
  read serves 512 tokens: the rate at which the matmuls saturate, the ceiling for any batch.

Batched decoding at B sequences needs B x fewer weight reads per token than one sequence, so
if one sequence were memory-bound, B sequences could go up to B times as fast until the matmul
ceiling. The printout compares the batch curve of ``bench/batching.py`` with both limits.

    python bench/bounds.py --model QWEN_GGUF [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def bandwidth(threads: int, size: int = 1 << 30, rounds: int = 5) -> float:
    """Bytes/s read by ``threads`` numpy sums over their own slices of one array."""
    data = np.ones(size // 8, dtype=np.float64)
    parts = np.array_split(data, threads)
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(rounds):
            start = time.perf_counter()
            list(pool.map(np.sum, parts))
            best = min(best, time.perf_counter() - start)
    return data.nbytes / best


def llama_rates(model: str, threads: int) -> tuple[float, float, float]:
    """(greedy and sampled decode tokens/s at one sequence, prompt-eval tokens/s for 512 tokens)."""
    from llama_cpp import Llama

    llm = Llama(model_path=model, n_ctx=2048, n_threads=threads, n_batch=512, verbose=False)
    words = ("def parse(line):\n    key, _, value = line.partition('=')\n    return key, value\n" * 40)
    prompt = llm.tokenize(words.encode())[:512]
    best_eval = float("inf")
    for _ in range(3):
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)
        best_eval = min(best_eval, time.perf_counter() - start)
    rates = []
    for temperature in (0.0, 0.8):     # greedy (argmax), then the pipeline's sampler chain
        llm.reset()
        start = time.perf_counter()
        out = llm.create_completion("def fibonacci(n):", max_tokens=96, temperature=temperature,
                                    top_p=0.95, top_k=0, min_p=0.0, seed=1)
        rates.append(out["usage"]["completion_tokens"] / (time.perf_counter() - start))
    llm.close()
    return rates[0], rates[1], len(prompt) / best_eval


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a GGUF file")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with open("/proc/loadavg", encoding="ascii") as f:
        load = f.read().split()[0]
    weights = Path(args.model).stat().st_size
    print(f"# bench/bounds.py --model {Path(args.model).name} --threads {args.threads}; "
          f"load average at start {load}")
    bw = bandwidth(args.threads)
    decode, sampled, prompt_eval = llama_rates(args.model, args.threads)
    traffic = decode * weights
    print(f"weights (GGUF file): {weights / 1e6:.0f} MB")
    print(f"memory read bandwidth, {args.threads} threads: {bw / 1e9:.1f} GB/s")
    print(f"decode, one sequence: {decode:.1f} tok/s -> weight traffic {traffic / 1e9:.1f} GB/s "
          f"= {traffic / bw:.0%} of the bandwidth")
    per_token = 1000 / sampled - 1000 / decode
    print(f"decode, one sequence, sampled (temperature 0.8, top_p 0.95, full vocabulary): "
          f"{sampled:.1f} tok/s -> the sampler costs {per_token:.1f} ms per token, which no batch "
          f"shares (each sequence samples on its own)")
    print(f"prompt evaluation, 512 tokens in one batch: {prompt_eval:.0f} tok/s "
          f"= {prompt_eval / decode:.1f}x one sequence's decode (the matmul ceiling)")
    with open("/proc/loadavg", encoding="ascii") as f:
        print(f"load average at the end: {f.read().split()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
