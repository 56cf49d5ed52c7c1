"""Fine-tuning throughput: packed versus padded batches, and the share of the machine's matmul rate.

Full fine-tuning of the embedded SmolLM2-135M (or --model) with the trainer ``selfalign train``
builds (TRL's SFTTrainer, Adafactor, fp32 on CPU), on the length distribution of a real dataset:
--data (any dataset ``selfalign train`` reads), else the rows of a curated run under runs/, else
the repository's own few-shot pool (20 instruction/response pairs, tests stripped as curation
strips them). Each mode trains the same rows in the same order from the same weights:

  padded   rows padded to the longest in the micro-batch (the model card's setup), causal
           attention without a mask (selfalign's varlen SDPA; exact for right padding)
  packed   the micro-batch's rows concatenated, kept apart by position ids, attention per row
           (``train.packing = true``)
  padded-mask, packed-mask  (with --all) the same batches through transformers' own SDPA with
           a padding or block-diagonal mask, to show what the varlen attention saves on a CPU

The modes run in ABBA order (--rounds), so a change in the machine's load lands on both alike.
Reported per mode, over the steps after each run's first (warm-up): effective (non-pad) tokens per
second of wall time and per CPU-second of this process, the mode's peak RSS, and the model FLOPs achieved, 6 x matmul
parameters per token plus causal attention (6 x layers x width x n(n+1) per row of n tokens;
padding and masked-out work not counted), as a share of a large fp32 matmul's rate measured in the
same process and the same units. The ratio printed is packed / padded. On a machine shared with
busy processes read the CPU-time columns. Peak RSS is the process's.

On a GPU (``--device cuda``, the default when one is there) the modes train in bf16 autocast
with fp32 weights (``precision = "auto"``), the baseline is a large bf16 matmul on the same GPU,
and the peak is the GPU memory torch allocated. ``--random-init`` trains the base's architecture
from random weights (speed only: the same FLOPs), and ``--shape`` swaps in the published
dimensions of a larger model (Qwen2.5-Coder 0.5B / 1.5B) behind the base's tokenizer, for
machines the real weights cannot reach.

Usage: python bench/train.py [--data PATH] [--batch 8] [--steps 3] [--rounds 2] [--threads N] [--all]
                             [--device cpu|cuda] [--random-init] [--shape qwen2.5-0.5b]
       python bench/train.py --write-pool-dataset FILE     (writes the pool rows as JSONL, exits)
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def pool_rows() -> list[dict]:
    """The few-shot pool as SFT rows: instruction -> reasoning + solution, tests cut like curation."""
    from selfalign.generate.pool import load_pool
    from selfalign.template import render_prompt

    rows = []
    for ex in load_pool().examples:
        response = ex.response.strip().split("\n\nTests:", 1)[0].strip()
        rows.append({"prompt": render_prompt(ex.instruction.strip()), "completion": response,
                     "instruction": ex.instruction.strip(), "source": f"pool:{ex.name}"})
    return rows


def dataset_path(given: str | None, scratch: Path) -> Path:
    if given:
        return Path(given)
    for candidate in sorted(REPO.glob("runs/*/sft.jsonl")):
        if candidate.stat().st_size > 0:
            return candidate
    path = scratch / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in pool_rows()), encoding="utf-8")
    return path


# Published dimensions (the models' config.json) for --shape: speed on a model this size.
SHAPES = {
    "qwen2.5-0.5b": dict(model_type="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "qwen2.5-1.5b": dict(model_type="qwen2", hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                         num_attention_heads=12, num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
}


def matmul_rate(device: str = "cpu", seconds: float = 3.0) -> tuple[float, float]:
    """FLOP/s of a large matmul (fp32 2048^2 on CPU, bf16 8192^2 on a GPU), per wall second and
    per CPU-second of this process."""
    import torch

    n, dtype = (2048, torch.float32) if device == "cpu" else (8192, torch.bfloat16)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    flops, wall0, cpu0 = 0.0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        for _ in range(1 if device == "cpu" else 20):
            a @ b
            flops += 2 * n ** 3
        sync(device)
    return flops / (time.perf_counter() - wall0), flops / (time.process_time() - cpu0)


def sync(device: str) -> None:
    import torch

    if device != "cpu":
        torch.cuda.synchronize()


def random_model(base, shape: str | None):
    """The base's architecture (or a published shape) with random weights, fp32."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from selfalign.train.model import _from_pretrained

    if shape:
        spec = dict(SHAPES[shape])
        config = AutoConfig.for_model(spec.pop("model_type"), **spec)
    else:
        config = _from_pretrained(AutoConfig, base)
    torch.manual_seed(0)
    net = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    net.config.use_cache = False
    return net


def model_flops(net, lengths: list[int]) -> float:
    """Training FLOPs of rows of these lengths: 6 x matmul params x tokens + causal attention."""
    cfg = net.config
    matmul_params = sum(p.numel() for n, p in net.named_parameters() if p.dim() == 2 and "embed_tokens" not in n)
    if cfg.tie_word_embeddings:
        matmul_params += net.get_input_embeddings().weight.numel()   # the LM head reuses it
    attention = 6 * cfg.num_hidden_layers * cfg.hidden_size * sum(n * (n + 1) for n in lengths)
    return 6 * matmul_params * sum(lengths) + attention


def reset_peak_rss() -> None:
    """Linux: hand freed heap back (malloc_trim), then reset the peak (clear_refs 5 resets VmHWM),
    so each mode's peak is its own, not what the previous mode left allocated."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def reset_peaks(device: str) -> None:
    import torch

    reset_peak_rss()
    if device != "cpu":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gpu_mb(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2 ** 20 if device != "cpu" else None


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_timer(device: str):
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self, device):
            self.marks, self.device = [], device

        def on_step_end(self, args, state, control, **kw):
            sync(self.device)
            self.marks.append((time.perf_counter(), time.process_time()))

    return StepTimer(device)


def run_mode(name, net, initial, tokenizer, train_ds, cfg, scratch, device):
    from selfalign.train import packing
    from selfalign.train.sft import build_trainer

    net.load_state_dict(initial)
    reset_peaks(device)
    original = net.config._attn_implementation
    packed = name.startswith("packed")
    if not name.endswith("-mask"):
        packing.training_attention(net)
    timer = make_timer(device)
    precision = "fp32" if device == "cpu" else "bf16"
    trainer = build_trainer(net, tokenizer, train_ds, None, cfg, scratch / name, precision, packed, [timer])
    sync(device)
    start = (time.perf_counter(), time.process_time())
    trainer.train()
    packing.restore_attention(net, original)
    marks = [start] + timer.marks
    lengths = batches_lengths(trainer, train_ds, cfg)
    steady = range(1, len(marks) - 1)   # skip the first step
    return {"mode": name, "steps": len(steady), "tokens": sum(sum(lengths[i]) for i in steady),
            "wall": marks[-1][0] - marks[1][0], "cpu": marks[-1][1] - marks[1][1],
            "flops": sum(model_flops(net, lengths[i]) for i in steady),
            "padded_positions": sum(len(lengths[i]) * max(lengths[i]) for i in steady),   # what padding computes
            "peak_rss_mb": peak_rss_mb(), "peak_gpu_mb": peak_gpu_mb(device)}


def combine(runs: list[dict]) -> dict:
    """One mode's rounds added up, and its rates."""
    total = {k: sum(r[k] for r in runs) for k in ("steps", "tokens", "wall", "cpu", "flops", "padded_positions")}
    gpu = [r["peak_gpu_mb"] for r in runs if r["peak_gpu_mb"] is not None]
    return {**total, "mode": runs[0]["mode"], "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "peak_gpu_mb": max(gpu) if gpu else None,
            "tok_s": total["tokens"] / total["wall"], "tok_cpu_s": total["tokens"] / total["cpu"],
            "flop_s": total["flops"] / total["wall"], "flop_cpu_s": total["flops"] / total["cpu"]}


def batches_lengths(trainer, train_ds, cfg) -> list[list[int]]:
    """Row lengths of each step's micro-batch, in the order the trainer's sampler drew them."""
    loader = trainer.get_train_dataloader()
    lengths = []
    for batch in loader:
        if "position_ids" in batch:
            pos = batch["position_ids"][0].tolist()
            starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
            lengths.append([b - a for a, b in zip(starts, starts[1:])])
        else:
            lengths.append(batch["attention_mask"].sum(dim=1).tolist())
        if len(lengths) == cfg.max_steps:
            break
    return lengths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data")
    parser.add_argument("--model", default=None, help="base model (default: the embedded SmolLM2-135M)")
    parser.add_argument("--batch", type=int, default=8, help="rows per micro-batch (both modes)")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per run, the first not timed")
    parser.add_argument("--rounds", type=int, default=2, help="runs per mode, in ABBA order")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--all", action="store_true", help="also both layouts through SDPA with a mask")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    parser.add_argument("--random-init", action="store_true", help="the base's architecture with random weights")
    parser.add_argument("--shape", choices=sorted(SHAPES), help="random weights in this published shape "
                                                               "(implies --random-init)")
    parser.add_argument("--write-pool-dataset", metavar="FILE")
    args = parser.parse_args()
    if args.write_pool_dataset:
        rows = pool_rows()
        Path(args.write_pool_dataset).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} rows to {args.write_pool_dataset}")
        return 0

    import tempfile

    import torch

    from selfalign.train import data
    from selfalign.train.config import TrainConfig
    from selfalign.train.model import load_model, load_tokenizer, resolve_base

    import datasets
    import transformers

    datasets.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    scratch = Path(tempfile.mkdtemp(prefix="bench-train-"))
    path = dataset_path(args.data, scratch)
    rows, _ = data.load_rows(path)
    random.Random(0).shuffle(rows)
    base = resolve_base(args.model)
    tokenizer = load_tokenizer(base)
    stats = data.DataStats()
    encoded = data.encode_rows(rows, tokenizer, "instruct", 1280, stats)
    need = args.batch * args.steps
    encoded = (encoded * (need // len(encoded) + 1))[:need]
    lengths = sorted(len(e.input_ids) for e in encoded)
    print(f"data: {path} ({len(rows)} rows; lengths min {lengths[0]}, median {lengths[len(lengths) // 2]}, "
          f"max {lengths[-1]} tokens); batch {args.batch} rows, {args.rounds} runs of {args.steps} steps per mode, "
          f"{torch.get_num_threads()} CPU threads", flush=True)
    net = random_model(base, args.shape) if args.random_init or args.shape else load_model(base, "fp32", 0.0)
    weights = f"{args.shape} shape, random weights" if args.shape else (
        "random weights" if args.random_init else "its weights")
    print(f"model: {base.name} ({weights}; {sum(p.numel() for p in net.parameters()) / 1e6:.0f}M parameters) "
          f"on {device}, {'fp32' if device == 'cpu' else 'bf16 autocast, fp32 weights'}", flush=True)
    initial = {k: v.detach().clone() for k, v in net.state_dict().items()}
    cfg = TrainConfig(max_steps=args.steps, batch_size=args.batch, grad_accum=1, save_steps=0, eval_fraction=0,
                      warmup_ratio=0, gguf=[], logging_steps=1)
    train_ds = data.to_dataset(encoded)
    peak_matmul = matmul_rate(device)
    modes = ["padded", "packed"] + (["padded-mask", "packed-mask"] if args.all else [])
    order = [m for r in range(args.rounds) for m in (modes if r % 2 == 0 else modes[::-1])]   # ABBA
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for mode in order:
        runs[mode].append(run_mode(mode, net, initial, tokenizer, train_ds, cfg, scratch, device))
        print(f"  {mode}: {runs[mode][-1]['tokens']} tokens in {runs[mode][-1]['wall']:.0f} s", flush=True)
    results = [combine(runs[m]) for m in modes]
    for r in results:
        gpu = f", peak GPU memory {r['peak_gpu_mb']:.0f} MB" if r["peak_gpu_mb"] is not None else ""
        print(f"{r['mode']:<12} {r['tok_s']:8.1f} tok/s  {r['tok_cpu_s']:8.1f} tok/CPU-s  "
              f"{r['flop_s'] / 1e9:7.2f} GFLOP/s = {r['flop_s'] / peak_matmul[0]:5.1%} of matmul (wall), "
              f"{r['flop_cpu_s'] / peak_matmul[1]:5.1%} (CPU time); peak RSS {r['peak_rss_mb']:.0f} MB{gpu}")
    after = matmul_rate(device)
    padded, packed = results[0], results[1]
    what = "2048^2 fp32 on CPU" if device == "cpu" else "8192^2 bf16 on the GPU"
    print(f"matmul {what}: {peak_matmul[0] / 1e9:.1f} GFLOP/s wall before, {after[0] / 1e9:.1f} after; "
          f"{peak_matmul[1] / 1e9:.1f} / {after[1] / 1e9:.1f} per CPU-second")
    ceiling = padded["padded_positions"] / padded["tokens"]
    print(f"packed / padded effective tokens: {packed['tok_s'] / padded['tok_s']:.2f}x wall, "
          f"{packed['tok_cpu_s'] / padded['tok_cpu_s']:.2f}x CPU time (aim >= 1.5x); padding is "
          f"{1 - 1 / ceiling:.0%} of the padded batches' positions, so removing it can give at most "
          f"{ceiling:.2f}x on these lengths")
    print(f"peak RSS: {max(r['peak_rss_mb'] for r in results):.0f} MB (each mode's own peak is on its line; "
          "the model, its initial copy and the data are in all of them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
