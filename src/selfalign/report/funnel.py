"""The funnel table: for each stage, records in, records out, kept, dropped by reason, LLM
tokens and time; for each artifact step (an evaluation), its summary in place of the counts.

"out" is what the stage made of its input, so kept + dropped = out in every row (responses:
n per instruction in); a stage that took fewer records than the one before it kept says so
(``12 of 121 (run.limit)``: only the first ``run.limit`` seeds go on to generation).

Tokens are those of fresh LLM calls (cache hits cost nothing): the prompt tokens of every sample,
how many of them the backend really evaluated after reusing a shared prefix, and the tokens it
generated, e.g. ``412k prompt (151k run), 38k out``."""

from __future__ import annotations

from typing import Any

from rich.table import Table

TOP_REASONS = 4


def funnel_rows(manifest: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    limit = manifest.get("config", {}).get("run", {}).get("limit", 0)
    before = None                       # records the previous stage kept
    for name, entry in manifest.get("stages", {}).items():
        if entry.get("kind") == "artifact":
            rows.append((name, "", "", "", _artifact_summary(entry), tokens(entry.get("llm", {})),
                         _time(entry)))
            continue
        dropped = entry.get("dropped", {})
        reasons = sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{r} {n}" for r, n in reasons[:TOP_REASONS])
        if len(reasons) > TOP_REASONS:
            shown += f", +{len(reasons) - TOP_REASONS} more"
        taken = entry.get("in", "")
        taken_text = str(taken)
        if isinstance(taken, int) and isinstance(before, int) and taken < before:
            taken_text = f"{taken} of {before}" + (" (run.limit)" if taken == limit else "")
        rows.append((name, taken_text, str(entry.get("out", "")), str(entry.get("kept", "")),
                     f"{sum(dropped.values())}" + (f" ({shown})" if shown else ""),
                     tokens(entry.get("llm", {})), _time(entry)))
        before = entry.get("kept")
    return rows


def tokens(llm: dict[str, int]) -> str:
    """``412k prompt (151k run), 38k out``; empty for a step that generated nothing. Manifests
    written before prompt tokens were counted show the output tokens alone."""
    if not llm.get("tokens") and not llm.get("prompt_tokens"):
        return ""
    out = f"{_count(llm.get('tokens', 0))} out"
    if "prompt_tokens" not in llm:
        return out
    run = f" ({_count(llm['prompt_evaluated'])} run)" if "prompt_evaluated" in llm else ""
    return f"{_count(llm['prompt_tokens'])} prompt{run}, {out}"


def _count(n: int) -> str:
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if n >= size:
            return f"{n / size:.1f}{unit}" if n < 10 * size else f"{n // size}{unit}"
    return str(n)


def _time(entry: dict[str, Any]) -> str:
    return f"{entry.get('seconds', 0):.1f}s" if entry.get("status") == "done" else entry.get("status", "")


def _artifact_summary(entry: dict[str, Any]) -> str:
    """``humaneval pass@1 12.5`` per benchmark for an evaluation; else the artifact's directory."""
    skipped = entry.get("summary", {}).get("skipped")
    if skipped:
        return f"skipped: {skipped}"
    scores = entry.get("summary", {}).get("scores", {})
    shown = [f"{bench} {k} {v}" for bench, by_k in scores.items() for k, v in by_k.items() if k == "pass@1"]
    return "; ".join(shown) or f"-> {entry.get('dir', '')}/"


def funnel_table(manifest: dict[str, Any]) -> Table:
    table = Table(title="selfalign funnel", title_justify="left")
    for column, justify in (("stage", "left"), ("in", "right"), ("out", "right"),
                            ("kept", "right"), ("dropped (top reasons)", "left"),
                            ("LLM tokens", "left"), ("time", "right")):
        table.add_column(column, justify=justify, overflow="fold")
    for row in funnel_rows(manifest):
        table.add_row(*row)
    return table
