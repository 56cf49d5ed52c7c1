"""Where a run's prompt tokens go, and what a shared prefix saves (issue 14, point 3).

For each generation stage of RUN_DIR this rebuilds the exact prompts the stage sent (the same
items, item RNGs, format and model template) without generating anything, tokenizes them with
the run's model, and prints per stage:

- requests and samples, prompt tokens as sent (one prompt per sample, as a server bills them)
  and the tokens the stage generated (from the run's own records and drops);
- how much of a prompt the few-shot examples are;
- what llama.cpp evaluates one sequence at a time, in pipeline order: the binding reuses the
  longest prefix shared with the previous prompt (the system paragraph), and the n samples of
  one prompt evaluate it once (then one token again per extra sample);
- the same if each prompt listed its drawn examples in pool order instead of draw order: the
  same examples, so the same content, but consecutive prompts would share a longer prefix.

    python bench/prompts.py runs/qwen40 [--model GGUF]

The model must be the run's (its tokenizer and chat template); by default the run's config says
which. Nothing is generated, so it takes seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path
from typing import Any, Sequence

from selfalign.generate import prompts as fewshot
from selfalign.generate.prompts import FORMATS, FewShot
from selfalign.llm import LLM, Request, Result, load_llm
from selfalign.llm.llamacpp import reused_prefix
from selfalign.pipeline import STAGE_KINDS
from selfalign.settings import load_config
from selfalign.stages import concepts, instructions, responses
from selfalign.stages.context import RunContext
from selfalign.store import iter_jsonl, read_records

STAGES = (concepts.ConceptsStage, instructions.InstructionsStage, responses.ResponsesStage)
QUESTION = {"concepts": lambda e: fewshot._snippet(e.seed),
            "instructions": lambda e: fewshot._properties(e.category, e.difficulty, e.concepts),
            "responses": lambda e: f"Instruction:\n{e.instruction}"}


def stage_prompts(stage_cls: Any, ctx: RunContext, llm: LLM,
                  fallback: str | None = None) -> list[tuple[FewShot, str, int]]:
    """(few-shot parts, format, n) of every request the stage sent, in pipeline order: the run's
    model renders them (its template and stops), but generates nothing."""
    module = sys.modules[stage_cls.__module__]
    shots: list[tuple[FewShot, str]] = []
    real = module.render

    def spy(model: LLM, few: FewShot, fmt: str) -> str:
        shots.append((few, fmt))
        return real(model, few, fmt)

    path = ctx.run_dir / f"{stage_cls.input}.jsonl"
    records: Any = read_records(path, STAGE_KINDS[stage_cls.input])
    if stage_cls.limited and ctx.config.run.limit > 0:
        records = itertools.islice(records, ctx.config.run.limit)
    cfg = getattr(ctx.config, stage_cls.name)
    # The format the run really used, as its records say (runs made before `auto` meant chat
    # have `auto` in their config but completion-format records).
    fmt = recorded_format(ctx.run_dir, stage_cls.name) or fallback or cfg.format
    cfg = dataclasses.replace(cfg, format=fmt)
    stage = stage_cls(cfg, ctx.config.run.seed, llm, ctx.pool())
    asked: list[Request] = []

    def record(requests: Sequence[Request]) -> list[Result]:
        asked.extend(requests)
        return []

    module.render, llm.generate = spy, record   # type: ignore[method-assign]
    try:
        list(stage.run(list(enumerate(records))))
    finally:
        module.render = real
        del llm.generate                         # the class's own generate again
    return [(few, fmt, request.params.n) for (few, fmt), request in zip(shots, asked)]


def recorded_format(run_dir: Path, stage: str) -> str | None:
    for name in (f"{stage}.jsonl", f"{stage}.dropped.jsonl"):
        if (run_dir / name).is_file():
            for _, row in iter_jsonl(run_dir / name):
                record = row.get("record", row)
                fmt = record.get("meta", {}).get("format") or record.get("format")
                if fmt in FORMATS:
                    return str(fmt)
    return None


def generated_tokens(run_dir: Path, stage: str) -> int:
    total = 0
    for name in (f"{stage}.jsonl", f"{stage}.dropped.jsonl"):
        if (run_dir / name).is_file():
            for _, row in iter_jsonl(run_dir / name):
                record = row.get("record", row)
                total += int(record.get("meta", record).get("completion_tokens") or 0)
    return total


def evaluated(prompts: list[list[int]], ns: list[int]) -> int:
    """Prompt tokens run one sequence at a time, in order, with the binding's prefix reuse."""
    total, previous = 0, []
    for tokens, n in zip(prompts, ns):
        total += len(tokens) - reused_prefix(previous, tokens) + (n - 1)
        previous = tokens
    return total


def in_pool_order(few: FewShot, order: dict[str, int]) -> FewShot:
    return dataclasses.replace(few, shots=tuple(sorted(few.shots, key=lambda s: order.get(s[0], 0))))


def measure(run_dir: Path, model: str | None, fmt: str | None = None) -> list[dict[str, Any]]:
    config = load_config(run_dir / "config.toml")
    ctx = RunContext(config, run_dir, progress=False)
    m = config.model
    llm = load_llm(model or m.model or None, m.backend or None, m.options)
    tokenize = getattr(llm, "_llama").tokenize

    def count(text: str) -> list[int]:
        return tokenize(text.encode("utf-8"), add_bos=True, special=True)

    def text(few: FewShot, fmt: str) -> str:
        return llm.render_chat(few.messages()) if fmt == "chat" else few.completion()

    rows = []
    for stage_cls in STAGES:
        if not (run_dir / f"{stage_cls.name}.jsonl").is_file():
            continue
        prompts = stage_prompts(stage_cls, ctx, llm, fmt)
        if not prompts:
            continue
        # A shot's question names its pool example, as the stage's builder wrote it.
        order = {QUESTION[stage_cls.name](e): i for i, e in enumerate(ctx.pool().examples)}
        ns = [n for _, _, n in prompts]
        sent = [count(text(few, fmt)) for few, fmt, _ in prompts]
        bare = [count(text(dataclasses.replace(few, shots=()), fmt)) for few, fmt, _ in prompts]
        sorted_ = [count(text(in_pool_order(few, order), fmt)) for few, fmt, _ in prompts]
        rows.append({
            "stage": stage_cls.name, "format": prompts[0][1], "requests": len(prompts),
            "samples": sum(ns), "prompt": sum(len(t) * n for t, n in zip(sent, ns)),
            "examples": sum(len(t) - len(b) for t, b in zip(sent, bare)) / sum(len(t) for t in sent),
            "evaluated": evaluated(sent, ns), "pool_order": evaluated(sorted_, ns),
            "generated": generated_tokens(run_dir, stage_cls.name)})
    llm.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--model", help="the run's model, if its config does not name it here")
    parser.add_argument("--format", choices=("completion", "chat"),
                        help="the prompt format, for runs whose records do not say it")
    args = parser.parse_args(argv)
    rows = measure(args.run_dir, args.model, args.format)
    print(f"prompt economy of {args.run_dir} (prompts rebuilt and tokenized; nothing generated)")
    print("| stage | format | requests | samples | prompt tokens sent | of which examples | "
          "evaluated, loop path | in pool order | generated |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['format']} | {r['requests']} | {r['samples']} | {r['prompt']:,} "
              f"| {r['examples']:.0%} | {r['evaluated']:,} ({r['evaluated'] / r['prompt']:.0%}) "
              f"| {r['pool_order']:,} ({r['pool_order'] / r['prompt']:.0%}) | {r['generated']:,} |")
    total_prompt = sum(r["evaluated"] for r in rows)
    total_out = sum(r["generated"] for r in rows)
    print(f"prompt tokens evaluated / generated, all stages: {total_prompt:,} / {total_out:,} "
          f"({total_prompt / max(1, total_prompt + total_out):.0%} of the tokens run are prompt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
