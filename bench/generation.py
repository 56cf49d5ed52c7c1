"""Generation throughput of the default backend: its overhead over raw llama-cpp-python, and its
speed against the model card's transformers loop.

Table 1, overhead (the aim is <= 5%): selfalign's default backend (``load_llm()``: llama.cpp on
the embedded SmolLM2-135M GGUF, or --model PATH) against raw llama-cpp-python, the library it
wraps, at its strongest fair configuration: one ``llama_cpp.Llama`` with the same model file,
context, threads and batch size, ``create_completion(prompt)`` per prompt with the same sampling
parameters (greedy, the same token limit, top_k 0 and min_p 0 as our backend passes), in the
same process (so the same OpenMP settings). Both sides generate the same prompts and must produce
the same tokens (checked). They alternate prompt by prompt (ABBA) for --rounds rounds and the
totals are compared, so a load change on a shared machine lands on both sides alike. Our side is
called with one request at a time (the pipeline batches 8 per call), the worst case for its
per-call overhead.

Table 2, speed: the same default backend against the model card's usage, transformers'
``AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)`` (the GGUF dequantized to fp32, the
fastest dtype on a CPU) + greedy ``model.generate`` one prompt at a time, with the same number of
threads; the two alternate prompt by prompt (one round). The embedded model only; optionally,
``--with-transformers-backend``, selfalign's batched transformers backend, run after. This is a
comparison of engines (llama.cpp's quantized kernels against PyTorch), not of selfalign's code:
the aim there is >= 4x.

Each line gives generated tokens per second of wall time and per CPU-second of this process.
On a machine shared with other busy processes the wall-clock rates collapse (spinning threads
wait for a core), so read the CPU-time ratio there and pass ``--threads 1``.

Usage: python bench/generation.py [--prompts 16] [--max-tokens 64] [--threads N] [--rounds 3]
       [--model PATH] [--skip-transformers]
The default run takes about five minutes on an idle 2-core laptop; model loading is not timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def bench_selfalign(llm, texts: list[str], max_tokens: int,
                    warm: bool = True) -> tuple[int, Timer, list[str]]:
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    if warm:
        llm.generate([Request(texts[0], SamplingParams(max_tokens=4))])   # warm-up, not timed
    with Timer() as timer:
        results = llm.generate([Request(t, params) for t in texts])
    outputs = [c.text for r in results for c in r.completions]
    return sum(c.completion_tokens for r in results for c in r.completions), timer, outputs


def load_raw_llama(gguf_path: str, threads: int):
    """Raw llama-cpp-python with the options our backend uses (LlamaCppOptions' defaults)."""
    import llama_cpp

    from selfalign.llm.llamacpp import LlamaCppOptions
    opts = LlamaCppOptions()
    return llama_cpp.Llama(model_path=gguf_path, n_ctx=opts.n_ctx, n_threads=threads,
                           n_batch=opts.n_batch, n_gpu_layers=opts.n_gpu_layers, verbose=False)


def bench_raw_llama(llama, texts: list[str], max_tokens: int,
                    warm: bool = True) -> tuple[int, Timer, list[str]]:
    """The library's own loop: ``create_completion`` per prompt, same sampling parameters."""
    if warm:
        llama.create_completion(texts[0], max_tokens=4, temperature=0.0)   # warm-up, not timed
    tokens, outputs = 0, []
    with Timer() as timer:
        for text in texts:
            out = llama.create_completion(text, max_tokens=max_tokens, temperature=0.0, top_p=1.0,
                                          top_k=0, min_p=0.0)
            tokens += out["usage"]["completion_tokens"]
            outputs.append(out["choices"][0]["text"])
    return tokens, timer, outputs


def load_model_card(gguf_path: str):
    """The model card's usage: ``from_pretrained(dir, gguf_file=...)`` (dequantized to fp32)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = Path(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    model.generate(**tokenizer("def", return_tensors="pt"), max_new_tokens=4)   # warm-up
    return tokenizer, model


def bench_model_card(tokenizer, model, texts: list[str], max_tokens: int) -> tuple[int, Timer, list[str]]:
    """``model.generate`` one prompt at a time, greedy."""
    import torch
    tokens, outputs = 0, []
    with Timer() as timer, torch.inference_mode():
        for text in texts:
            inputs = tokenizer(text, return_tensors="pt")
            out = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False,
                                 pad_token_id=tokenizer.eos_token_id)
            tokens += out.shape[1] - inputs["input_ids"].shape[1]
            outputs.append(tokenizer.decode(out[0, inputs["input_ids"].shape[1]:]))
    return tokens, timer, outputs


def alternate(sides: dict, texts: list[str], rounds: int) -> dict[str, list]:
    """Run two sides prompt by prompt, ABBA, so a load change on a shared machine lands on both.
    Each side: text -> (tokens, Timer, outputs); returns name -> [tokens, wall, cpu, outputs]."""
    names = list(sides)
    totals = {name: [0, 0.0, 0.0, [], []] for name in names}   # tokens, wall, cpu, outputs, calls
    for r in range(rounds):
        for i, text in enumerate(texts):
            for name in (names if (r + i) % 2 == 0 else names[::-1]):
                tokens, timer, outputs = sides[name](text)
                total = totals[name]
                total[0] += tokens
                total[1] += timer.wall
                total[2] += timer.cpu
                total[4].append((tokens, timer.wall, timer.cpu))
                if r == 0:
                    total[3] += outputs
    return totals


def paired_ratio(totals: dict[str, list], a: str, b: str, k: int) -> float:
    """Median over prompts of a's rate / b's rate on the same prompt (k: 1 wall, 2 cpu), robust
    to the one prompt that a burst of load hit."""
    pairs = zip(totals[a][4], totals[b][4])        # (tokens, wall, cpu) of each call, same order
    return statistics.median((ca[0] / max(ca[k], 1e-9)) / (cb[0] / max(cb[k], 1e-9)) for ca, cb in pairs)


def report(totals: dict[str, list], labels: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Print each side's tokens, time and rates; return name -> (tok/s, tok/cpu-s)."""
    rates = {}
    for name, label in labels.items():
        tokens, wall, cpu = totals[name][:3]
        rates[name] = tokens / wall, tokens / max(cpu, 1e-9)
        print(f"{label:<46} {tokens:>5} tokens {wall:>6.1f} s {rates[name][0]:>7.1f} tok/s "
              f"{rates[name][1]:>7.1f} tok/cpu-s", flush=True)
    return rates


def overhead_table(args: argparse.Namespace, texts: list[str], gguf: str) -> None:
    """Table 1: ours vs raw llama-cpp-python."""
    llm = load_llm(gguf, options={"n_threads": args.threads})
    raw = load_raw_llama(gguf, args.threads)
    bench_selfalign(llm, texts[:1], 4)          # warm-ups, not timed
    bench_raw_llama(raw, texts[:1], 4)
    totals = alternate({"ours": lambda text: bench_selfalign(llm, [text], args.max_tokens, warm=False),
                        "raw": lambda text: bench_raw_llama(raw, [text], args.max_tokens, warm=False)},
                       texts, args.rounds)
    llm.close()
    raw.close()
    print(f"\n1. overhead over raw llama-cpp-python ({args.rounds} rounds, alternating prompt by "
          f"prompt; load average now {os.getloadavg()[0]:.1f})")
    rates = report(totals, {"ours": f"selfalign default backend ({llm.backend})",
                            "raw": "raw llama-cpp-python, create_completion loop"})
    same = totals["ours"][3] == totals["raw"][3] and totals["ours"][0] == totals["raw"][0]
    wall_ratio, cpu_ratio = (rates["ours"][k] / rates["raw"][k] for k in (0, 1))
    med_wall, med_cpu = paired_ratio(totals, "ours", "raw", 1), paired_ratio(totals, "ours", "raw", 2)
    print(f"ratio selfalign / raw: totals {wall_ratio:.3f} wall clock, {cpu_ratio:.3f} per CPU-second; "
          f"median per prompt {med_wall:.3f} wall, {med_cpu:.3f} CPU; overhead {100 * (1 / med_wall - 1):+.1f}% "
          f"wall, {100 * (1 / med_cpu - 1):+.1f}% CPU (aim: <= 5%); identical outputs: {'yes' if same else 'NO'}")


def model_card_table(args: argparse.Namespace, texts: list[str], gguf: str) -> None:
    """Table 2: ours vs the model card's transformers loop."""
    import torch
    torch.set_num_threads(args.threads)
    llm = load_llm(gguf, options={"n_threads": args.threads})
    bench_selfalign(llm, texts[:1], 4)
    tokenizer, model = load_model_card(gguf)
    totals = alternate({"ours": lambda text: bench_selfalign(llm, [text], args.max_tokens, warm=False),
                        "card": lambda text: bench_model_card(tokenizer, model, [text], args.max_tokens)},
                       texts, 1)
    llm.close()
    print(f"\n2. against the model card's transformers loop (alternating prompt by prompt; load "
          f"average now {os.getloadavg()[0]:.1f})")
    rates = report(totals, {"ours": f"selfalign default backend ({llm.backend})",
                            "card": "model card: transformers, one prompt at a time"})
    if args.with_transformers_backend:
        hf = load_llm(gguf, backend="transformers", options={"batch_size": 8, "threads": args.threads})
        tokens, timer, _ = bench_selfalign(hf, texts, args.max_tokens)
        print(f"{'selfalign transformers backend (batch 8)':<46} {tokens:>5} tokens {timer.wall:>6.1f} s "
              f"{tokens / timer.wall:>7.1f} tok/s {tokens / max(timer.cpu, 1e-9):>7.1f} tok/cpu-s (run after)")
    print(f"ratio default backend / model card loop: {rates['ours'][0] / rates['card'][0]:.1f}x wall "
          f"clock, {rates['ours'][1] / rates['card'][1]:.1f}x per CPU-second (aim: >= 4x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=16, help="number of prompts")
    parser.add_argument("--max-tokens", type=int, default=64, help="new tokens per prompt")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="CPU threads for both llama.cpp and torch")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds in table 1")
    parser.add_argument("--model", help="GGUF file (default: the embedded model)")
    parser.add_argument("--skip-transformers", action="store_true", help="table 1 only")
    parser.add_argument("--with-transformers-backend", action="store_true",
                        help="also time selfalign's batched transformers backend")
    args = parser.parse_args()
    texts, gguf = prompts(args.prompts), args.model or embedded_model_path()
    print(f"model: {gguf}\n{args.prompts} prompts x {args.max_tokens} max new tokens, greedy, "
          f"{args.threads} threads; {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}")
    print("baselines: 1. raw llama-cpp-python, one Llama with the same file, n_ctx, threads and "
          "n_batch, create_completion per prompt with the same sampling parameters; 2. the model "
          "card's transformers loop (GGUF dequantized to fp32, model.generate per prompt, greedy)")
    overhead_table(args, texts, gguf)
    if not (args.skip_transformers or args.model):
        model_card_table(args, texts, gguf)


if __name__ == "__main__":
    main()
