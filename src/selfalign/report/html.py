"""``selfalign report``: one self-contained HTML file for a run directory, which opens offline.

The page is a Jinja2 template (``templates/report.html.j2``) filled from ``data.gather``; the
charts are plotly figures with plotly.js inlined once; the sample browser's rows are embedded
gzip'd (``samples.embedded``) and inflated by the browser itself. Nothing is fetched when the
file is opened, so it can be mailed or attached as it is. The trade-off: plotly.js makes every
report about 5 MB before any data, the price of interactive charts with no network.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Any

REPORT_FILE = "report.html"


def _template_text(name: str) -> str:
    return resources.files("selfalign.report").joinpath("templates", name).read_text(encoding="utf-8")


def _number(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if sign else f"{value:.1f}"


def render_report(run_dir: str | Path) -> str:
    """The report of a run directory as HTML text."""
    import jinja2
    from markupsafe import Markup

    from selfalign.report.charts import all_charts, plotly_js
    from selfalign.report.data import gather
    from selfalign.report.samples import embedded

    data = gather(run_dir)
    env = jinja2.Environment(loader=jinja2.PackageLoader("selfalign.report", "templates"),
                             autoescape=True)
    # CSS and JS go in as they are: read as text, not parsed as templates, never escaped.
    context: dict[str, Any] = {
        "name": data.run_dir.resolve().name, "run_dir": str(data.run_dir.resolve()),
        "written": time.strftime("%Y-%m-%d %H:%M"), "version": data.manifest.get("packages", {}).get("selfalign", ""),
        "models": data.models, "isolation": data.isolation, "manifest": data.manifest,
        "funnel_header": data.funnel_header, "funnel": data.funnel,
        "charts": {k: Markup(v) if v else None for k, v in all_charts(data).items()},
        "decontamination": data.decontamination, "decontam_hits": data.decontam_hits,
        "train_skipped": data.stages.get("train", {}).get("summary", {}).get("skipped"),
        "evaluation": data.loop, "fmt": _number, "config_text": data.config_text,
        "sample_rows": len(data.samples.rows), "samples": embedded(data.samples),
        "plotly_js": Markup(plotly_js()), "css": Markup(_template_text("report.css")),
        "browser_js": Markup(_template_text("browser.js")),
    }
    return env.get_template("report.html.j2").render(**context)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) atomically; return its path."""
    from selfalign.store import atomic_write_text

    path = Path(out) if out else Path(run_dir) / REPORT_FILE
    atomic_write_text(path, render_report(run_dir))
    return path
