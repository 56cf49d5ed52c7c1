"""Curation speed and memory: 100,000 synthetic verdict rows through ``selfalign curate``'s code.

The rows look like a real run's: ~4 answers per instruction, 40% passing, 20-60-word
instructions, reasoning + solution + a ``Tests:`` block, solutions from five loop shapes with
their own variable names and constants, function names recurring (one per 40 rows, so the
diverse-name choice has work), 1% exact and 2% near-duplicate instructions, 3% weak tests
(``assert True``, a never-called ``def test_``, a redefinition), 0.2% pasted MBPP solutions, and
stub verdicts in ``exec`` as the execute stage records them (2% of passes also pass the stub). They are
written to a JSONL file first (not timed), then read, curated with the default ``[curate]``
settings (decontamination against every local benchmark, MinHash 250 permutations) and written
as the dataset folder -- the whole command except the sandbox.

Each size runs in a fresh child process, so its peak RSS (``ru_maxrss``) is its own. Baseline,
in a child too: the floor any curation pays -- read and JSON-decode every row and ``ast.parse``
its code and tests once -- so the ratio says what the checks, dedup, decontamination and output
cost on top. Memory is bounded if the peak grows far slower than the input (compare sizes).

    python bench/curate.py [--rows 100000] [--small 20000] [--sandbox 200] [--boilerplate 0.3]

``--sandbox N`` also runs the stub check for N rows (without stub verdicts) in the real sandbox.
``--boilerplate`` is the share of instructions that end with one common sentence (default 0.3):
short texts sharing a sentence make the MinHash LSH of ``quality/dedup.py`` propose many
candidate pairs (its densified signatures agree on whole bands), which costs memory; 0 shows
curation without that effect.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

SYLLABLES = "ba be bi bo ca ce co da de di do fa fe fi ga ge go ka ke ki ko la le li lo ma me mi mo na ne " \
            "ni no pa pe pi po ra re ri ro sa se si so ta te ti to va ve vi vo za ze zi zo".split()
COMMON = ("the a of to and in for each is with by that it list value number string return empty "
          "given input output when if not all every item first last").split()
BODIES = [
    "{r} = []\n    for {v} in {a}:\n        if {v} % {k} == {c}:\n            {r}.append({v} * {m})\n    return {r}",
    "{r} = 0\n    for {i}, {v} in enumerate({a}):\n        {r} += {v} * ({i} + {k})\n    return {r} - {m}",
    "{s} = set()\n    {r} = []\n    for {v} in {a}:\n        if {v} not in {s}:\n            {s}.add({v})\n"
    "            {r}.append({v} + {k})\n    return {r}[:{m}]",
    "if not {a}:\n        return {k}\n    {r} = {a}[0]\n    for {v} in {a}[1:]:\n        {r} = max({r}, {v} - {m})\n"
    "    return {r}",
    "{r} = {{}}\n    for {v} in {a}:\n        {r}[{v} % {k}] = {r}.get({v} % {k}, {c}) + {m}\n    return sorted({r}.items())",
]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))


def _mbpp_solutions() -> list[str]:
    from selfalign.benchmarks import load

    return [p.canonical_solution for p in load("mbpp", split="all")][:200]


def _humaneval_prompts() -> list[str]:
    from selfalign.benchmarks import load

    return [p.prompt for p in load("humaneval")]


def _instruction(rng: random.Random, name: str, boilerplate: float) -> str:
    words = [rng.choice(COMMON) if rng.random() < 0.4 else _word(rng) for _ in range(rng.randint(20, 60))]
    extra = " If the input is empty, return an empty result." if rng.random() < boilerplate else ""
    return f"Write a function `{name}(xs)` that {' '.join(words)}.{extra}"


def synthetic_rows(n: int, seed: int = 0, boilerplate: float = 0.3) -> Iterator[dict]:
    rng = random.Random(seed)
    copies, prompts = _mbpp_solutions(), _humaneval_prompts()
    instructions: list[str] = []
    names: list[str] = [f"{_word(rng)}_{_word(rng)}" for _ in range(max(1, n // 40))]   # names recur
    name = names[0]
    for i in range(n):
        k = i // 4                                         # ~4 answers per instruction
        if i % 4 == 0:
            name = rng.choice(names)
            text = _instruction(rng, name, boilerplate)
            r = rng.random()
            if r < 0.01 and instructions:
                text = rng.choice(instructions)                           # exact duplicate
            elif r < 0.03 and instructions:
                text = rng.choice(instructions) + " Keep it simple."      # near duplicate
            elif r < 0.032:
                text = f"{rng.choice(prompts)} Write it in Python."       # a benchmark prompt
            instructions.append(text)
        yield _row(i, k, instructions[-1], name, rng, copies)


def _row(i: int, k: int, instruction: str, name: str, rng: random.Random, copies: list[str]) -> dict:
    names = {key: _word(rng) for key in "rvisa"}
    body = rng.choice(BODIES).format(k=rng.randint(2, 9), m=rng.randint(1, 9), c=rng.randint(0, 3), **names)
    code = f"def {name}({names['a']}):\n    \"\"\"Rule {k}.\"\"\"\n    {body}\n"
    tests = "\n".join(f"assert {name}({[rng.randint(0, 20) for _ in range(rng.randint(0, 5))]}) is not None "
                      f"or {name}([]) == []" for _ in range(rng.randint(2, 5)))
    weak = rng.random()
    if weak < 0.01:
        tests = "assert True"
    elif weak < 0.02:
        tests = f"def test_{name}():\n    assert {name}([1]) == [1]\n"
    elif weak < 0.03:
        tests = f"def {name}(xs):\n    assert {name}([]) == []\n"
    elif weak < 0.032:                                     # a pasted MBPP solution
        code = copies[rng.randrange(len(copies))].replace("\r\n", "\n") + "\n"
        copied = re.search(r"^def (\w+)", code, re.M)
        tests = f"f = {copied.group(1) if copied else name}\nassert callable(f)"
    status = "pass" if rng.random() < 0.4 else "fail"
    stub = "pass" if status == "pass" and rng.random() < 0.02 else "fail"
    response = (f"Reasoning: walk the list once and apply rule {k}.\n\nSolution:\n```python\n{code}```\n\n"
                f"Tests:\n```python\n{tests}\n```")
    verdict = {"status": status, "exit_code": 0 if status == "pass" else 1, "wall_s": 0.01, "cpu_s": 0.01,
               "peak_mb": 12.0, "error_type": None if status == "pass" else "AssertionError", "error": None,
               "stdout_tail": "", "stderr_tail": "", "isolation": "bwrap", "tests_collected": True,
               "stub": {"status": stub, "error_type": None, "error": ""}}
    return {"id": f"row{i}", "instruction_id": f"inst{k}", "instruction": instruction, "response": response,
            "code": code, "tests": tests, "exec": verdict, "seed_id": f"seed{k % 500}",
            "seed_source": "synthetic", "seed_license": "MIT"}


def write_rows(path: Path, n: int, strip_stub: int = 0, boilerplate: float = 0.3) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for i, row in enumerate(synthetic_rows(n, boilerplate=boilerplate)):
            if i < strip_stub:
                row["exec"].pop("stub")
            out.write(json.dumps(row) + "\n")


def child_curate(path: Path, sandbox_rows: int) -> dict:
    from selfalign.cli.curate import read_rows
    from selfalign.curate.config import CurateConfig
    from selfalign.curate.curation import Curation
    from selfalign.curate.dataset import write_dataset

    start = time.perf_counter()
    sandbox = None
    if sandbox_rows:
        from selfalign.sandbox import Limits, Sandbox

        sandbox = Sandbox(Limits(timeout_s=5.0), workers=2)
    curation = Curation(CurateConfig(), 0, sandbox)
    index_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as out:
        summary = write_dataset(Path(out) / "ds", curation.run(read_rows(path)), curation.report)
    if sandbox is not None:
        sandbox.close()
    wall = time.perf_counter() - start
    report = curation.report
    return {"rows": report.rows_in, "examples": summary.examples, "seconds": wall, "index_s": index_s,
            "dropped": dict(report.dropped), "stub_runs": report.stub_runs, "rss_mb": _peak_mb()}


def child_floor(path: Path) -> dict:
    start = time.perf_counter()
    rows = 0
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            ast.parse(row["code"])
            ast.parse(row["tests"])
            rows += 1
    return {"rows": rows, "seconds": time.perf_counter() - start, "rss_mb": _peak_mb()}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_child(mode: str, path: Path, sandbox_rows: int = 0) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--file", str(path),
                          "--sandbox", str(sandbox_rows)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=20_000, help="a second size, to see how memory grows")
    parser.add_argument("--sandbox", type=int, default=0, help="rows whose stub check runs in the sandbox")
    parser.add_argument("--boilerplate", type=float, default=0.3, help="share of instructions ending with "
                        "the same sentence (short texts sharing it make many MinHash candidates)")
    parser.add_argument("--child", choices=("curate", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child_curate(args.file, args.sandbox) if args.child == "curate" else child_floor(args.file)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted({args.small, args.rows}):
            path = Path(tmp) / f"rows{n}.jsonl"
            write_rows(path, n, boilerplate=args.boilerplate)
            floor, cur = _run_child("floor", path), _run_child("curate", path)
            rate, floor_rate = cur["rows"] / cur["seconds"], floor["rows"] / floor["seconds"]
            print(f"{n:>7} rows: curate {cur['seconds']:.1f} s = {rate:,.0f} rows/s (index build "
                  f"{cur['index_s']:.1f} s), peak RSS {cur['rss_mb']:.0f} MB -> {cur['examples']} examples; "
                  f"floor (json + ast.parse) {floor_rate:,.0f} rows/s, {floor['rss_mb']:.0f} MB; "
                  f"curate/floor time x{floor_rate / rate:.1f}")
            reasons = sorted(cur["dropped"].items(), key=lambda kv: -kv[1])
            print("          dropped: " + ", ".join(f"{r} {c}" for r, c in reasons))
        if args.sandbox:
            path = Path(tmp) / "sandbox.jsonl"
            write_rows(path, args.sandbox, strip_stub=args.sandbox)
            cur = _run_child("curate", path, args.sandbox)
            print(f"with the sandbox: {cur['rows']} rows, {cur['stub_runs']} stub runs in {cur['seconds']:.1f} s "
                  f"({cur['rows'] / cur['seconds']:,.0f} rows/s), peak RSS {cur['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
