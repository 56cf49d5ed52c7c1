"""The dataset card: a Hugging Face ``README.md`` for the curated dataset.

A YAML header (license, language, tags, size category, and ``configs`` pointing the default
config at ``data.parquet``, so ``load_dataset(folder)`` ignores ``dropped.jsonl``), then the
funnel (the pipeline's steps when a run's manifest is known, and curation's counts per step and
reason), the seeds' sources and licenses, the decontamination report (benchmarks indexed or
missing, every hit with the benchmark item it matched), and the model and settings behind it.

The trade-off: the license field is derived, not decided: one known seed license becomes the
dataset's; several, or one Hugging Face does not list, become ``other`` with their names, and
the model's own license is stated in the text -- a human should still read it before publishing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from selfalign.curate.report import CurationReport
from selfalign.text import plural

# Licenses the Hugging Face hub lists under these ids (lowercase SPDX); others become "other".
HUB_LICENSES = {"apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "cc-by-4.0", "cc-by-sa-4.0", "cc0-1.0",
                "gpl-2.0", "gpl-3.0", "lgpl-3.0", "mpl-2.0", "unlicense", "openrail", "odc-by"}
MAX_HITS_LISTED = 50


@dataclass
class CardInfo:
    """What the card says beyond the counts: names, the generating model and its settings."""

    name: str = "selfalign-sft"
    input: str = ""                                          # the curated file or run directory
    model: str = ""
    model_license: str = ""
    settings: dict[str, Any] = field(default_factory=dict)   # generation sections + run seed
    curate: dict[str, Any] = field(default_factory=dict)     # the [curate] section used
    upstream: dict[str, dict[str, Any]] = field(default_factory=dict)   # manifest steps
    version: str = ""


def dataset_license(sources: Counter) -> tuple[str, str]:
    """(YAML license id, license_name for ``other``) from (source, license) -> count."""
    names = sorted({lic for (_, lic) in sources if lic and lic != "unknown"})
    if len(names) == 1 and names[0].lower() in HUB_LICENSES:
        return names[0].lower(), ""
    if not names:
        return "unknown", ""
    return "other", " + ".join(names)


def size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "1M<n<10M"


def _header(info: CardInfo, examples: int, sources: Counter) -> str:
    license_id, license_name = dataset_license(sources)
    lines = ["---", f"license: {license_id}"]
    if license_name:
        lines.append(f"license_name: {json.dumps(license_name)}")
    lines += ["language:", "- en", "- code", "task_categories:", "- text-generation",
              "tags:", "- code", "- synthetic", "- self-alignment", "- selfalign",
              "size_categories:", f"- {size_category(examples)}", f"pretty_name: {json.dumps(info.name)}",
              "configs:", "- config_name: default", "  data_files:", "  - split: train", "    path: data.parquet",
              "---", ""]
    return "\n".join(lines)


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["(none)", ""]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return out + [""]


def _counts(counts: dict[str, int]) -> str:
    """``reason n, reason n`` by decreasing count."""
    return ", ".join(f"{key} {n}" for key, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _funnel(report: CurationReport, info: CardInfo, examples: int) -> list[str]:
    out = ["## Funnel", ""]
    if info.upstream:
        rows = [[name, step.get("in", ""), step.get("kept", ""), _counts(step.get("dropped") or {})]
                for name, step in info.upstream.items() if step.get("kind") != "artifact"]
        out += ["Pipeline steps (from the run's manifest):", ""] + _table(["step", "in", "kept", "dropped"], rows)
    out += [f"Curation: {plural(report.rows_in, 'row')} in, {plural(examples, 'example')} out "
            f"(policy `{report.policy}`, preference `{report.prefer}`).", ""]
    rows = [[step, reason, n] for step, reasons in report.by_step().items() for reason, n in reasons.items()]
    out += _table(["curation step", "reason", "rows"], rows)
    if report.target_size is not None:
        out += [f"Ablation size: {report.target_size} (the instructions the `passing` policy keeps); "
                f"short by {report.shortfall}.", ""]
    out += [f"Sandbox: {report.reruns} verdicts redone with collected pytest/unittest tests, "
            f"{report.stub_runs} stub runs ({report.stub_passed} stubs passed the tests), "
            f"{report.stub_unchecked} passes without a stub verdict.",
            f"Sanitizing: {report.augmented} instructions got assertions appended; "
            f"{report.tests_kept} answers keep their tests because the instruction asks for them.", ""]
    return out


def _seeds(sources: Counter) -> list[str]:
    rows = [[src, lic, n] for (src, lic), n in sorted(sources.items(), key=lambda kv: -kv[1])]
    return ["## Seed sources and licenses", ""] + _table(["source", "license", "examples"], rows)


def _decontamination(report: CurationReport) -> list[str]:
    bench = report.benchmarks
    out = ["## Decontamination", ""]
    if not bench:
        return out + ["Decontamination was off.", ""]
    indexed = ", ".join(f"{name} ({n} texts)" for name, n in bench.get("texts", {}).items()) or "none"
    out += [f"Instructions and responses were checked against: {indexed}; {bench.get('functions', 0)} "
            "benchmark functions for short verbatim copies (word 10-grams, 50% overlap; function name "
            "+ body)."]
    for name, why in bench.get("skipped", {}).items():
        out.append(f"Not available here, skipped: {name} ({why.split(';')[0]}).")
    hits = report.decontam_hits
    per_benchmark = Counter(h.benchmark_id.split(":", 1)[0] for h in hits)
    out += ["", f"{len(hits)} hits: " + (_counts(per_benchmark) or "none"), ""]
    if hits:
        rows = [[h.row_id, h.field, h.reason, h.benchmark_id, f"{h.overlap:.0%}"] for h in hits[:MAX_HITS_LISTED]]
        head = ["row (instruction id for an instruction)", "field", "reason", "benchmark item", "overlap"]
        out += _table(head, rows)
        if len(hits) > MAX_HITS_LISTED:
            out += [f"... and {len(hits) - MAX_HITS_LISTED} more (see `dropped.jsonl`).", ""]
    return out


def _settings(info: CardInfo) -> list[str]:
    out = ["## Model and settings", ""]
    out.append(f"Generated by `{info.model or 'unknown model'}`"
               + (f" (license: {info.model_license})" if info.model_license else "")
               + f" with selfalign {info.version or ''}".rstrip() + ".")
    if info.input:
        out.append(f"Curated from `{info.input}`.")
    for title, section in (("Generation settings", info.settings), ("Curation settings", info.curate)):
        if section:
            text = json.dumps(section, indent=2, sort_keys=True, default=str)
            out += ["", f"{title}:", "", "```json", text, "```"]
    return out + [""]


def render_card(report: CurationReport, info: CardInfo, examples: int, sources: Counter) -> str:
    body = [f"# {info.name}", "",
            "Instruction/response pairs for supervised fine-tuning of a code model, written by the model "
            "itself and kept only when its own tests passed in a sandbox "
            "([SelfCodeAlign](https://arxiv.org/abs/2410.24198), implemented by selfalign).", "",
            "- `data.parquet` / `data.jsonl`: one example per row: `messages` (chat form), `prompt` / "
            "`completion` (the `### Instruction` / `### Response` template), `instruction`, `response`, "
            "and the lineage: `seed_id`, `instruction_id`, `response_id`, `verdict_id`, `seed_source`, "
            "`seed_path`, `seed_license`.",
            "- `dropped.jsonl`: every row curation did not keep, with its `reason` and `detail`.", ""]
    body += _funnel(report, info, examples) + _seeds(sources) + _decontamination(report) + _settings(info)
    return _header(info, examples, sources) + "\n".join(body)


GENERATION_SECTIONS = ("model", "seeds", "concepts", "instructions", "responses", "execute")


def info_from_manifest(manifest: dict[str, Any], name: str = "selfalign-sft", source: str = "") -> CardInfo:
    """Card facts from a run's ``manifest.json``: the model, the generation settings, the funnel."""
    config = manifest.get("config", {})
    model = (config.get("model") or {}).get("model") or "the default model (embedded SmolLM2-135M-Instruct)"
    settings = {key: config[key] for key in GENERATION_SECTIONS if key in config}
    settings["run"] = {k: v for k, v in (config.get("run") or {}).items() if k in ("seed", "limit")}
    upstream = {step: info for step, info in (manifest.get("stages") or {}).items() if step != "curate"}
    version = (manifest.get("packages") or {}).get("selfalign", "")
    return CardInfo(name=name, input=source, model=model, settings=settings, upstream=upstream, version=version)
