"""The report's charts, drawn by plotly: each function turns ``ReportData`` into a figure, and
``chart_html`` into an HTML fragment that needs plotly.js, which the page inlines once.

Large series are binned here (the execution-time histogram of 100,000 verdicts is 40 bars, not
100,000 numbers in the page), so a chart's size does not grow with the run. A chart with
nothing to show is None and its section says why instead.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from selfalign.report.data import ReportData

HEIGHT = 340
KEPT_COLOR = "#2ca02c"
STATUS_COLORS = {"pass": "#2ca02c", "fail": "#d62728", "timeout": "#ff7f0e", "memory": "#9467bd",
                 "crash": "#8c564b", "blocked": "#7f7f7f"}
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def _figure(**layout: Any):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout({"template": "plotly_white", "height": HEIGHT,
                       "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, **layout})
    return fig


def funnel_chart(data: ReportData):
    """One bar per record stage: what it kept, then each drop reason, stacked."""
    import plotly.graph_objects as go

    stages = data.record_stages
    if not stages:
        return None
    names = list(stages)[::-1]          # the first stage on top
    fig = _figure(barmode="stack", title="What each stage made of its input: kept, and dropped by reason",
                  xaxis_title="records", height=max(HEIGHT, 60 * len(names) + 140),
                  legend={"orientation": "h", "y": -0.15})
    fig.add_trace(go.Bar(y=names, x=[stages[n].get("kept", 0) for n in names], name="kept",
                         orientation="h", marker_color=KEPT_COLOR))
    reasons = sorted({r for e in stages.values() for r in e.get("dropped", {})})
    for reason in reasons:
        fig.add_trace(go.Bar(y=names, x=[stages[n].get("dropped", {}).get(reason, 0) for n in names],
                             name=reason, orientation="h"))
    return fig


def status_chart(data: ReportData):
    import plotly.graph_objects as go

    if not data.exec_status:
        return None
    statuses = [s for s, _ in data.exec_status.most_common()]
    fig = _figure(title=f"Verdicts by status ({sum(data.exec_status.values())} executed)", yaxis_title="verdicts")
    fig.add_trace(go.Bar(x=statuses, y=[data.exec_status[s] for s in statuses],
                         marker_color=[STATUS_COLORS.get(s, "#1f77b4") for s in statuses]))
    return fig


def time_chart(data: ReportData, bins: int = 40):
    """Execution wall time, binned here; the title carries the median and the 95th percentile."""
    import numpy as np
    import plotly.graph_objects as go

    if not data.exec_seconds:
        return None
    seconds = np.asarray(data.exec_seconds)
    counts, edges = np.histogram(seconds, bins=bins)
    p50, p95 = np.percentile(seconds, [50, 95])
    fig = _figure(title=f"Execution time per verdict (median {p50:.3f} s, p95 {p95:.3f} s)",
                  xaxis_title="wall seconds", yaxis_title="verdicts", bargap=0.05)
    fig.add_trace(go.Bar(x=((edges[:-1] + edges[1:]) / 2).round(4).tolist(), y=counts.tolist(),
                         width=float(edges[1] - edges[0]) if len(edges) > 1 else None,
                         hovertext=[f"{a:.3f}-{b:.3f} s" for a, b in zip(edges[:-1], edges[1:])]))
    return fig


def _counts_bar(counts: Counter, title: str, horizontal: bool = False, top: int = 0):
    import plotly.graph_objects as go

    if not counts:
        return None
    items = counts.most_common(top or None)
    labels, values = [k for k, _ in items], [v for _, v in items]
    fig = _figure(title=title)
    if horizontal:
        fig.update_layout(height=max(HEIGHT, 18 * len(labels) + 100))
        fig.add_trace(go.Bar(y=labels[::-1], x=values[::-1], orientation="h"))
    else:
        fig.add_trace(go.Bar(x=labels, y=values))
    return fig


def category_chart(data: ReportData):
    return _counts_bar(data.categories, "Instructions by category")


def difficulty_chart(data: ReportData):
    return _counts_bar(data.difficulties, "Instructions by difficulty")


def concept_chart(data: ReportData, top: int = 30):
    shown = min(top, len(data.concepts))
    return _counts_bar(data.concepts, f"Concepts of the instructions (top {shown} of {len(data.concepts)})",
                       horizontal=True, top=top)


def loss_chart(data: ReportData):
    import plotly.graph_objects as go

    if not data.loss or not data.loss.get("train"):
        return None
    fig = _figure(title="Training loss", xaxis_title="optimizer step", yaxis_title="loss per response token")
    train = data.loss["train"]
    fig.add_trace(go.Scatter(x=[p["step"] for p in train], y=[p["loss"] for p in train], name="train",
                             mode="lines+markers" if len(train) < 50 else "lines"))
    if data.loss.get("eval"):
        held = data.loss["eval"]
        fig.add_trace(go.Scatter(x=[p["step"] for p in held], y=[p["loss"] for p in held],
                                 name="eval (held out)", mode="lines+markers"))
    return fig


def eval_chart(data: ReportData):
    """pass@1 before and after per benchmark row; the base column alone when nothing was trained."""
    import plotly.graph_objects as go

    rows = [row for bench in data.loop.get("benchmarks", []) for row in bench["rows"]]
    fig = _figure(title="pass@1 before and after training", yaxis_title="pass@1 (%)", barmode="group")
    if rows:
        for column in ("before", "after"):
            fig.add_trace(go.Bar(x=[r["name"] for r in rows], y=[r[column] for r in rows], name=column))
        return fig
    before = {name: s.get("pass@1") for name, s in (data.loop.get("before_only") or {}).items()}
    if not before:
        return None
    fig.update_layout(title="pass@1 of the base model (no trained model was evaluated)")
    fig.add_trace(go.Bar(x=list(before), y=list(before.values()), name="before"))
    return fig


CHARTS = {"funnel": funnel_chart, "status": status_chart, "time": time_chart, "category": category_chart,
          "difficulty": difficulty_chart, "concepts": concept_chart, "loss": loss_chart, "eval": eval_chart}


def chart_html(fig, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{div_id}", config=PLOTLY_CONFIG)


def all_charts(data: ReportData) -> dict[str, str | None]:
    """Every chart as an HTML fragment (None when it has nothing to show), by name."""
    figures = {name: make(data) for name, make in CHARTS.items()}
    return {name: None if fig is None else chart_html(fig, name) for name, fig in figures.items()}


def plotly_js() -> str:
    """plotly.js itself, to inline once: the report opens with no network."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()
