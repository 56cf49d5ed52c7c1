"""The funnel table: for each stage, records in, kept, dropped by reason, and time; for each
artifact step (an evaluation), its summary in place of the counts."""

from __future__ import annotations

from typing import Any

from rich.table import Table

TOP_REASONS = 4


def funnel_rows(manifest: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for name, entry in manifest.get("stages", {}).items():
        if entry.get("kind") == "artifact":
            rows.append((name, "", "", _artifact_summary(entry), _time(entry)))
            continue
        dropped = entry.get("dropped", {})
        reasons = sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{r} {n}" for r, n in reasons[:TOP_REASONS])
        if len(reasons) > TOP_REASONS:
            shown += f", +{len(reasons) - TOP_REASONS} more"
        rows.append((name, str(entry.get("in", "")), str(entry.get("kept", "")),
                     f"{sum(dropped.values())}" + (f" ({shown})" if shown else ""), _time(entry)))
    return rows


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
    for column, justify in (("stage", "left"), ("in", "right"), ("kept", "right"),
                            ("dropped (top reasons)", "left"), ("time", "right")):
        table.add_column(column, justify=justify, overflow="fold")
    for row in funnel_rows(manifest):
        table.add_row(*row)
    return table
