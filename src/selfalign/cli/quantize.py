"""`selfalign quantize IN.gguf OUT.gguf --type q4_0`: requantize a GGUF with llama.cpp's quantizer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
Requantize a GGUF model file with llama.cpp's own quantizer, e.g. for faster CPU generation.

On a CPU the weights' type decides the speed as much as batching does: llama.cpp repacks Q4_0
weights for kernels that multiply several rows at once, so a Q4_0 file decodes faster one
sequence at a time and gains more from [model.options] parallel than a Q4_1 or Q5_0 file
(docs/backends.md has the measurements). Requantizing an already quantized file loses
precision: the output is a different model. Evaluate it (`selfalign eval --model OUT.gguf`)
before you generate data with it."""

EPILOG = """\
examples:
  selfalign quantize model-q5_0.gguf model-q4_0.gguf
  selfalign quantize model-f16.gguf model-q8_0.gguf --type q8_0
  selfalign run --model model-q4_0.gguf --set model.options.parallel=8"""


def register(subparsers) -> None:
    from selfalign.llm.quantize import TYPES

    p = subparsers.add_parser("quantize", help="requantize a GGUF model (e.g. to Q4_0 for faster CPU decoding)",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, metavar="IN.gguf", help="the model file")
    p.add_argument("output", type=Path, metavar="OUT.gguf", help="where to write the requantized file")
    p.add_argument("--type", default="q4_0", choices=TYPES, help="the target type (default q4_0)")
    p.add_argument("--threads", type=int, default=0, help="quantizer threads (default: every core)")
    p.set_defaults(func=run_quantize_command)


def run_quantize_command(args: argparse.Namespace) -> int:
    from selfalign.llm.quantize import quantize_gguf

    if args.output.exists():
        print(f"error: {args.output} exists; remove it or choose another name", file=sys.stderr)
        return 2
    out = quantize_gguf(args.input, args.output, args.type, args.threads)
    size = out.stat().st_size / 1e6
    print(f"{args.input} -> {out} ({args.type}, {size:.0f} MB)")
    return 0
