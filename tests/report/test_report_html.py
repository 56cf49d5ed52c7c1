"""The HTML report of a small real run: what each section says, checked against the run's own
files, and the sample browser's embedded rows checked against ``lineage.trace``."""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path

import pytest

from selfalign.cli import main
from selfalign.cli.report import write_after_run
from selfalign.lineage import trace
from selfalign.report.html import render_report
from selfalign.store import iter_jsonl


@pytest.fixture(scope="module")
def page(report_run) -> str:
    return render_report(report_run)


def _unpack(text: str) -> object:
    return json.loads(gzip.decompress(base64.b64decode(text)))


def _embedded(page: str, element_id: str) -> object:
    found = re.search(rf'<script type="application/octet-stream" id="{element_id}">([^<]*)</script>', page)
    assert found, element_id
    return _unpack(found.group(1))


def _chunks(page: str) -> list[dict]:
    rows, n = [], 0
    while f'id="chunk-{n}"' in page:
        rows += _embedded(page, f"chunk-{n}")
        n += 1
    return rows


def _section(page: str, name: str) -> str:
    return page.split(f'<section id="{name}">', 1)[1].split("</section>", 1)[0]


def test_the_page_is_self_contained(page):
    assert "<script src" not in page and "<link" not in page    # nothing to fetch when opened
    assert page.count("Plotly.newPlot") == 8                    # every chart drawn ...
    assert page.count("plotly.js v") == 1                       # ... by one inlined plotly.js


def test_funnel_execution_and_instruction_sections(page, report_run):
    manifest = json.loads((report_run / "manifest.json").read_text())
    funnel = _section(page, "funnel")
    for name, entry in manifest["stages"].items():
        assert f"<td>{name}</td>" in funnel and f"<td>{entry['kept']}</td>" in funnel
    assert "exec:fail" in funnel and "decontam:" in funnel     # drop reasons are chart traces
    isolation = manifest["stages"]["execute"]["isolation"][0]
    execution = _section(page, "execution")
    assert isolation in execution and 'data-chart="status"' in execution and 'data-chart="time"' in execution
    statuses = [row["record"]["status"] for _, row in iter_jsonl(report_run / "execute.dropped.jsonl")
                if "record" in row]
    assert f'Verdicts by status ({manifest["stages"]["execute"]["in"]} executed)' in execution
    assert statuses and all(s == "fail" for s in statuses)
    instructions = _section(page, "instructions")
    assert all(f'data-chart="{c}"' in instructions for c in ("category", "difficulty", "concepts"))
    assert "loops" in instructions                              # the scripted model's concepts


def test_decontamination_training_evaluation_and_settings(page, report_run):
    decontam = _section(page, "decontamination")
    assert "humaneval (328)" in decontam                        # what it was decontaminated against
    assert "decontam:" in decontam and "HumanEval/0" in decontam and "has_close_elements" in decontam
    training = _section(page, "training")
    assert 'data-chart="loss"' in training and "eval (held out)" in training
    evaluation = _section(page, "evaluation")
    assert 'data-chart="eval"' in evaluation
    assert re.search(r"<td>humaneval</td>\s*<td class=\"num\">66\.7</td><td class=\"num\">66\.7</td>", evaluation)
    flips = evaluation.split('class="flips"', 1)[1]
    assert "<td>HumanEval/0</td><td>HumanEval/1</td>" in flips   # fixed, then broken
    # the base in both formats; the instruct template scored higher, so it is the before column
    assert re.search(r"<td>humaneval</td><td class=\"num\">66\.7</td><td class=\"num\">33\.3</td><td>instruct</td>", flips)
    settings = _section(page, "settings")
    assert "[responses]" in settings and "selfalign" in settings and "bwrap" in settings


def test_the_sample_rows_carry_every_row_and_its_lineage(page, report_run):
    index, details = _embedded(page, "sample-index"), _chunks(page)
    stage_rows = sum(1 for name in index["stages"] for f in (f"{name}.jsonl", f"{name}.dropped.jsonl")
                     for _, row in iter_jsonl(report_run / f) if "format" not in row)
    assert len(index["stage"]) == len(details) == stage_rows
    stage = [index["stages"][s] for s in index["stage"]]
    verdicts = [i for i, s in enumerate(stage) if s == "execute"]
    assert verdicts
    for i in verdicts:   # the page's parent links walk the same chain as lineage.trace
        chain = []
        j = i
        while j >= 0:
            chain.insert(0, index["id"][j])
            j = index["parent"][j]
        assert chain == [r.id for r in trace(report_run, index["id"][i])]
    failing = next(i for i in verdicts if index["values"]["status"][index["status"][i]] == "fail")
    assert "AssertionError" in details[failing]["exec"]["stderr_tail"]
    examples = [i for i, s in enumerate(stage) if s == "curate" and index["kept"][i]]
    assert examples and all(details[i]["sft"]["prompt"].endswith("### Response\n") for i in examples)
    categories = set(index["values"]["category"])
    assert {"function", "class", "program"} & categories


def test_cli_writes_the_report_and_a_failure_after_a_run_only_warns(report_run, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(report_run), "-o", str(out)]) == 0
    assert str(out.resolve()) in capsys.readouterr().out and out.stat().st_size > 1_000_000
    assert main(["report", str(tmp_path / "nothing")]) == 2
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    assert write_after_run(Path(broken)) is None
    assert "warning: the HTML report could not be written" in capsys.readouterr().err


def test_selfalign_run_writes_the_report_and_says_where(tmp_path, capsys):
    from scripted import ScriptedServer
    from test_pipeline import _overrides

    run = tmp_path / "run"
    with ScriptedServer() as server:
        sets = [arg for o in _overrides(tmp_path, server.url, run) for arg in ("--set", o)]
        assert main(["run", "--no-progress", *sets]) == 0
    out = capsys.readouterr().out
    assert f"HTMLreport:{(run / 'report.html').resolve()}" in "".join(out.split())   # rich wraps lines
    assert "<section id=\"samples\">" in (run / "report.html").read_text()
