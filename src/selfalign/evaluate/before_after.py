"""The before/after report of a self-alignment run: the base model's and the trained model's
scores side by side, the problems that flipped, and what the model was trained on.

``loop_report(run_dir)`` reads ``eval_base/results.json``, ``eval_trained/results.json``,
``train/selfalign.json`` and the manifest's funnel; ``render_markdown`` turns it into the table
the run prints and saves. An EvalPlus benchmark gives two rows: its base tests (HumanEval, MBPP)
and its base plus extra tests (HumanEval+, MBPP+). A step that was skipped (no rows to train on)
is reported with its reason instead of numbers.

The before column is the base model in its better prompt format: where ``eval_native`` ran (the
base in its own chat template), each benchmark's before scores and flips come from whichever of
the two formats scored higher on the benchmark's full tests, so a gain cannot come from the
trained model merely answering a template its base handled badly. Both formats are reported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfalign.evaluate.compare import bench_scores, compare_results
from selfalign.evaluate.results import read_results
from selfalign.text import plural

FORMAT = "selfalign-report v1"
ANOTHER_MODEL = ("selfalign experiment configs/experiment-qwen-0.5b.toml --model PATH/TO/MODEL.gguf "
                 "(or a model directory, or --set train.model=WEIGHTS with a server URL)")
ROW_NAMES = {"humaneval+": ("HumanEval", "HumanEval+"), "mbpp+": ("MBPP", "MBPP+")}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def skipped_reason(run_dir: Path, step: str) -> str | None:
    """Why a finished artifact step did nothing (its COMPLETE.json summary), or None."""
    marker = _read_json(run_dir / step / "COMPLETE.json") or {}
    return marker.get("summary", {}).get("skipped")


def small_data_note(rows: int, effective_batch: int | None) -> str | None:
    """A caution when the model trained on fewer rows than one optimizer step takes: each step
    then fits the same few examples, with a step size that does not shrink with the data (Adam,
    Adafactor), which can cost the model more than it learns (docs/loop.md)."""
    if not effective_batch or rows >= effective_batch:
        return None
    return (f"trained on {plural(rows, 'row')}, fewer than one effective batch ({effective_batch}): every "
            "optimizer step fitted the same few examples, which can cost a model more than it learns; "
            "compare with a control exported without learning (bench/control.py, docs/loop.md)")


def loop_report(run_dir: str | Path) -> dict[str, Any]:
    run = Path(run_dir)
    manifest = _read_json(run / "manifest.json") or {}
    stages = manifest.get("stages", {})
    report: dict[str, Any] = {"format": FORMAT, "run_dir": str(run), "benchmarks": [], "notes": [],
                              "funnel": {name: {"in": e.get("in"), "kept": e.get("kept")}
                                         for name, e in stages.items() if "kept" in e}}
    for step in ("train", "eval_trained"):
        reason = skipped_reason(run, step)
        if reason:
            report["notes"].append(f"{step} skipped: {reason}")
    card = _read_json(run / "train" / "selfalign.json")
    if card:
        t = card["training"]
        report["dataset"] = {"rows": card["dataset"]["rows"], "train": card["dataset"]["train"],
                             "held_out": card["dataset"]["eval"], "sha256": card["dataset"]["sha256"]}
        report["training"] = {k: t.get(k) for k in ("steps", "epochs", "train_loss", "eval_loss", "seconds",
                                                   "precision", "effective_batch")}
        report["base_model"] = card["base_model"]["model"]
        small = small_data_note(card["dataset"]["train"], t.get("effective_batch"))
        if small:
            report["notes"].append(small)
    before, after = (run / "eval_base" / "results.json"), (run / "eval_trained" / "results.json")
    if not before.exists():
        return report
    base, formats = best_format(read_results(before), _read_results(run / "eval_native" / "results.json"))
    if formats:
        report["before_formats"] = formats
    if after.exists():
        report["benchmarks"] = [_rows(c) for c in compare_results(base, read_results(after))]
    else:
        report["notes"].append("no trained model was evaluated: only the base column exists")
        report["before_only"] = {name: bench_scores(b) for name, b in base["benchmarks"].items()}
    return report


def _read_results(path: Path) -> dict[str, Any] | None:
    return read_results(path) if path.exists() else None


def best_format(instruct: dict[str, Any], native: dict[str, Any] | None
                ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The base's results with each benchmark taken from its better prompt format (higher
    pass@1 on the full tests; the instruct template on a tie, the one training uses), and per
    benchmark both formats' scores and the one chosen. Without a native evaluation: as given."""
    if native is None:
        return instruct, {}
    chosen, formats = dict(instruct["benchmarks"]), {}
    for name, bench in instruct["benchmarks"].items():
        other = native["benchmarks"].get(name)
        if other is None:
            continue
        a, b = bench.get("scores", {}).get("pass@1"), other.get("scores", {}).get("pass@1")
        pick = "native" if a is not None and b is not None and b > a else "instruct"
        chosen[name] = other if pick == "native" else bench
        formats[name] = {"instruct": bench_scores(bench), "native": bench_scores(other), "chosen": pick}
    return {**instruct, "benchmarks": chosen}, formats


def _rows(c: Any) -> dict[str, Any]:
    names = ROW_NAMES.get(c.benchmark)
    metrics = []
    for key in sorted(set(c.scores_a) | set(c.scores_b)):
        if not key.endswith("pass@1"):
            continue
        label = c.benchmark
        if names:
            label = names[0] if key.startswith("base ") else names[1]
        a, b = c.scores_a.get(key), c.scores_b.get(key)
        metrics.append({"name": label, "metric": key.removeprefix("base "), "before": a, "after": b,
                        "delta": None if a is None or b is None else round(b - a, 2)})
    metrics.sort(key=lambda m: m["name"])
    return {"benchmark": c.benchmark, "rows": metrics, "fixed": c.fixed, "broken": c.broken,
            "same_data": c.same_data}


def _num(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if sign else f"{value:.1f}"


def render_markdown(report: dict[str, Any]) -> str:
    lines = ["| benchmark | before pass@1 | after pass@1 | change | fixed | broken |",
             "|---|---:|---:|---:|---:|---:|"]
    for bench in report["benchmarks"]:
        for i, row in enumerate(bench["rows"]):
            flips = (str(len(bench["fixed"])), str(len(bench["broken"]))) if i == len(bench["rows"]) - 1 else ("", "")
            warn = "" if bench["same_data"] else " (different data!)"
            lines.append(f"| {row['name']}{warn} | {_num(row['before'])} | {_num(row['after'])} | "
                         f"{_num(row['delta'], sign=True)} | {flips[0]} | {flips[1]} |")
    out = []
    if report["benchmarks"]:
        out += lines + [""]
        out += [f"Fixed on {b['benchmark']}: {', '.join(b['fixed']) or 'none'}; broken: "
                f"{', '.join(b['broken']) or 'none'}." for b in report["benchmarks"]]
        out.append("(Fixed and broken: problems that went from failing to passing, or back, on the benchmark's "
                   "full tests: the plus tests of HumanEval+ and MBPP+.)")
    elif report.get("before_only"):
        out += ["| benchmark | before |", "|---|---|"]
        out += [f"| {name} | {', '.join(f'{k} {v}' for k, v in s.items())} |" for name, s in report["before_only"].items()]
    for name, f in report.get("before_formats", {}).items():
        full = ROW_NAMES.get(name, (name, name))[1]
        out.append(f"Before on {full}: the base's better prompt format, {f['chosen']} (pass@1 instruct template "
                   f"{_num(f['instruct'].get('pass@1'))}, own chat template {_num(f['native'].get('pass@1'))}).")
    if report.get("dataset"):
        d, t = report["dataset"], report["training"]
        out.append(f"Trained {report.get('base_model', '')} on {plural(d['train'], 'row')} ({d['held_out']} held out) "
                   f"for {t['steps']} steps ({t['epochs']:.2f} epochs, {t['precision']}): train loss "
                   f"{t['train_loss']:.3f}" + (f", held-out loss {t['eval_loss']:.3f}" if t["eval_loss"] else "") + ".")
    funnel = " -> ".join(f"{name} {f['kept']}" for name, f in report["funnel"].items())
    if funnel:
        out.append(f"Funnel (kept): {funnel}.")
    out += [f"Note: {n}." if not n.endswith(".") else f"Note: {n}" for n in report["notes"]]
    if any(n.startswith("train skipped") for n in report["notes"]):
        out.append(f"The same loop on a model that writes passing code: {ANOTHER_MODEL}")
    return "\n".join(out) + "\n"
