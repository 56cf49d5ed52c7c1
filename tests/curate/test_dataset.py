"""The dataset folder loads with `datasets` (offline) and its card says what happened."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import yaml

from selfalign.curate.card import CardInfo, dataset_license, info_from_manifest
from selfalign.curate.config import CurateConfig
from selfalign.curate.curation import curate_rows
from selfalign.curate.dataset import write_dataset
from selfalign.curate.report import CurationReport
from selfalign.template import render_prompt


def _rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        code = f"def scale_{i}(xs):\n    return [x * {i + 2} for x in xs]"
        tests = f"assert scale_{i}([1]) == [{i + 2}]"
        rows.append({"id": f"r{i}", "instruction": f"Write scale_{i}(xs) that multiplies each item of xs by {i + 2}.",
                     "response": f"Solution:\n```python\n{code}\n```\n\n**Tests:**\n```python\n{tests}\n```",
                     "code": code, "tests": tests, "exec": {"status": "pass" if i % 4 else "fail"},
                     "seed_id": f"s{i % 2}", "seed_source": "corpus.jsonl.gz", "seed_path": f"lib/m{i}.py",
                     "seed_license": "MIT"})
    return rows + [{"id": "bad"}]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "dataset"
    report = CurationReport()
    cfg = CurateConfig(decontaminate=False, stub_check=False)
    info = CardInfo(name="demo-sft", model="qwen2.5-coder-0.5b.gguf", settings={"responses": {"n": 4}},
                    curate=vars(cfg), upstream={"execute": {"in": 8, "kept": 6, "dropped": {"exec:fail": 2}}})
    summary = write_dataset(out, curate_rows(_rows(8), cfg, 0, report=report), report, info)
    return out, summary


def test_files_and_rows(folder):
    out, summary = folder
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data.jsonl", "data.parquet", "dropped.jsonl"]
    rows = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    assert len(rows) == summary.examples == 6
    first = next(r for r in rows if r["verdict_id"] == "r1")
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert first["prompt"] == render_prompt(first["instruction"]) and first["completion"] == first["response"]
    assert "assert" not in first["completion"] and first["seed_license"] == "MIT"
    assert first["response_id"] == "r1" and first["seed_id"] == "s1" and first["seed_path"] == "lib/m1.py"
    dropped = [json.loads(line) for line in (out / "dropped.jsonl").read_text().splitlines()]
    assert Counter(d["reason"] for d in dropped) == {"exec:fail": 2, "malformed": 1}


def test_loads_with_datasets_offline(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    out, _ = folder
    whole = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert list(whole) == ["train"] and whole["train"].num_rows == 6        # dropped.jsonl is not data
    assert whole["train"][0]["messages"][1]["role"] == "user"
    plain = datasets.load_dataset("json", data_files=str(out / "data.jsonl"), cache_dir=str(tmp_path / "cache2"))
    assert plain["train"].num_rows == 6 and set(plain["train"].column_names) == set(whole["train"].column_names)


def test_card_header_and_sections(folder):
    out, _ = folder
    text = (out / "README.md").read_text()
    _, header, body = text.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["license"] == "mit" and meta["configs"][0]["data_files"][0]["path"] == "data.parquet"
    assert meta["size_categories"] == ["n<1K"]
    for needle in ("## Funnel", "| execution | exec:fail | 2 |", "| input | malformed | 1 |", "| execute | 8 | 6 |",
                   "## Seed sources and licenses", "| corpus.jsonl.gz | MIT | 6 |", "## Decontamination",
                   "qwen2.5-coder-0.5b.gguf", '"n": 4'):
        assert needle in body, needle


def test_license_field():
    assert dataset_license(Counter({("a", "MIT"): 3})) == ("mit", "")
    assert dataset_license(Counter({("a", "PSF-2.0"): 3})) == ("other", "PSF-2.0")
    assert dataset_license(Counter({("a", "MIT"): 1, ("b", "Apache-2.0"): 1})) == ("other", "Apache-2.0 + MIT")
    assert dataset_license(Counter({("a", "unknown"): 1})) == ("unknown", "")


def test_card_facts_from_a_manifest():
    manifest = {"config": {"model": {"model": "q.gguf"}, "responses": {"n": 10}, "run": {"seed": 3, "dir": "x"}},
                "stages": {"seeds": {"in": 5, "kept": 4}, "curate": {"in": 4}}, "packages": {"selfalign": "0.3"}}
    info = info_from_manifest(manifest, source="runs/q")
    assert info.model == "q.gguf" and info.settings["run"] == {"seed": 3} and list(info.upstream) == ["seeds"]
    assert info.version == "0.3" and info.input == "runs/q"
