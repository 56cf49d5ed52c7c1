"""Where a run's answers are lost: the responses and execute stages of RUN_DIR, read from its files.

The efficacy experiment lives or dies by its yield (passing answers per 100 instructions): too
few rows, and training teaches nothing. This script reads what the run wrote (nothing is
generated or executed again) and breaks the loss down further than the funnel does:

- answers sampled, kept with a solution and tests, and dropped per reason;
- truncated answers (hit max_tokens): where the cut fell (before the solution's code block was
  closed, or after it) and how many were degenerate, i.e. ended in a loop of near-identical
  lines (the last 20 non-empty lines with at most 5 distinct 12-character openings);
- answers without tests: the parser's detail (the solution alone, or blocks without a test);
- executed answers: passed, and the failures' error types; failures whose tests call a function
  that neither the solution nor the tests define (tests copied from the few-shot example, say);
- instructions with at least one passing answer, and passing answers per 100 instructions;
- the responses stage's tokens written (the share spent on answers that were then truncated)
  and its time per passing answer, from the manifest.

    python bench/yields.py runs/exp-qwen-0.5b > bench/results/yield-qwen.txt
"""

from __future__ import annotations

import argparse
import ast
import builtins
import collections
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

FENCE_CLOSED = re.compile(r"```[^\n]*\n.*?\n?[ \t]*```", re.DOTALL)
WINDOW, OPENINGS, OPENING = 20, 5, 12


def rows(path: Path) -> Iterator[dict[str, Any]]:
    """A selfalign JSONL file's rows, its header line skipped; nothing when it does not exist."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if isinstance(row, dict) and row.get("format") == "selfalign" and "kind" in row:
                continue
            yield row


def manifest_entry(run: Path, stage: str) -> dict[str, Any]:
    path = run / "manifest.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8")).get("stages", {}).get(stage, {})


def degenerate(text: str) -> bool:
    """The answer ends in a loop: its last WINDOW non-empty lines have few distinct openings."""
    tail = [ln.strip() for ln in text.splitlines() if ln.strip()][-WINDOW:]
    return len(tail) == WINDOW and len({ln[:OPENING] for ln in tail}) <= OPENINGS


def cut_after_solution(text: str) -> bool:
    """Truncated after a closed code block (the solution), i.e. in the tests or after them."""
    return FENCE_CLOSED.search(text) is not None


def undefined_calls(solution: str, tests: str) -> list[str]:
    """Plain-name calls in the tests that neither program defines, imports or has as a builtin."""
    defined = set(dir(builtins))
    calls = []
    for code in (solution, tests):
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return []
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                defined.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, ast.arg):
                defined.add(node.arg)
        if code is tests:
            calls = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    return sorted({c for c in calls if c not in defined})


def no_tests_detail(text: str) -> str:
    """Why an answer has no tests, from today's parser (older runs recorded no detail)."""
    from selfalign.generate.parse import Drop, parse_response

    made = parse_response(text)
    detail = made.detail if isinstance(made, Drop) else "parsed today"
    if re.search(r"^assert\b", text, re.MULTILINE):
        detail += "; asserts inside the solution's block"
    return re.sub(r"\d+ code blocks?", "N code block(s)", re.sub(r"\d+ without", "N without", detail))


def top(counter: collections.Counter, k: int = 6) -> str:
    shown = ", ".join(f"{name} {count}" for name, count in counter.most_common(k))
    rest = sum(counter.values()) - sum(c for _, c in counter.most_common(k))
    return shown + (f", others {rest}" if rest else "")


def share(part: int, whole: int) -> str:
    return f"{part} ({part / whole:.0%})" if whole else f"{part}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    run = args.run_dir
    if not (run / "responses.jsonl").is_file():
        print(f"error: {run / 'responses.jsonl'} not found: the responses stage has not finished", file=sys.stderr)
        return 2
    instructions = sum(1 for _ in rows(run / "instructions.jsonl"))
    kept = list(rows(run / "responses.jsonl"))
    dropped = list(rows(run / "responses.dropped.jsonl"))
    sampled = len(kept) + len(dropped)
    reasons = collections.Counter(d["reason"] for d in dropped)

    truncated = [d["record"] for d in dropped if d["reason"] == "truncated"]
    loops = sum(degenerate(r.get("raw", "")) for r in truncated)
    after = sum(cut_after_solution(r.get("raw", "")) for r in truncated)
    no_tests = collections.Counter(no_tests_detail(d["record"].get("raw", ""))
                                   for d in dropped if d["reason"] == "no_tests")

    passed = list(rows(run / "execute.jsonl"))
    failed = list(rows(run / "execute.dropped.jsonl"))
    executed = len(passed) + len(failed)
    errors = collections.Counter((d.get("detail") or d["reason"]) for d in failed)
    strangers = sum(bool(undefined_calls(d["record"].get("solution", ""), d["record"].get("tests", "")))
                    for d in failed if d["reason"] == "exec:fail")
    passing_instructions = len({r.get("instruction_id") or r.get("parent_id") for r in passed})

    print(f"yield of {run} (read from its files; nothing generated or executed)")
    print()
    print("| what | count |")
    print("|---|---:|")
    print(f"| instructions | {instructions} |")
    print(f"| answers sampled | {sampled} |")
    print(f"| kept with a solution and tests | {share(len(kept), sampled)} |")
    print(f"| dropped | {share(len(dropped), sampled)}: {top(reasons)} |")
    print(f"| truncated, cut after the solution's code block | {share(after, len(truncated))} |")
    print(f"| truncated, ending in a loop of near-identical lines | {share(loops, len(truncated))} |")
    for detail, count in no_tests.most_common():
        print(f"| no_tests: {detail} | {count} |")
    asked = [r.get("meta", {}) for r in kept] + [d["record"] for d in dropped]
    if any(fields.get("tests_asked") for fields in asked):
        asked_kept = sum(bool(r.get("meta", {}).get("tests_asked")) for r in kept)
        asked_dropped = collections.Counter(d["reason"] for d in dropped if d["record"].get("tests_asked"))
        print(f"| continued for their tests (responses.ask_tests) | {asked_kept + sum(asked_dropped.values())}: "
              f"kept {asked_kept}" + (f", dropped {top(asked_dropped)}" if asked_dropped else "") + " |")
    print(f"| executed | {executed} |")
    print(f"| passed | {share(len(passed), executed)} |")
    print(f"| failed | {share(len(failed), executed)}: {top(errors)} |")
    print(f"| failed, tests call a name no program defines | {share(strangers, len(failed))} |")
    if any(r.get("meta", {}).get("tests_asked") for r in kept):
        print(f"| passed, of the answers continued for their tests | "
              f"{sum(bool(r.get('meta', {}).get('tests_asked')) for r in passed)} |")
    print(f"| instructions with a passing answer | {share(passing_instructions, instructions)} |")
    per_100 = 100 * len(passed) / instructions if instructions else 0.0
    print(f"| passing answers per 100 instructions | {per_100:.1f} |")
    stage = manifest_entry(run, "responses")
    written = (stage.get("llm") or {}).get("tokens", 0)
    if written:
        in_truncated = sum(r.get("completion_tokens", 0) for r in truncated)
        print(f"| tokens written by the responses stage | {written:,}, of which in truncated answers "
              f"{in_truncated:,} ({in_truncated / written:.0%}) |")
    if stage.get("seconds"):
        each = f", {stage['seconds'] / len(passed):,.0f} s per passing answer" if passed else ""
        print(f"| responses stage time (manifest) | {stage['seconds']:,.0f} s{each} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
