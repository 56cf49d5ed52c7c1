"""The HTML report of a large run: its file size and how long it takes to write and to open.

Builds a synthetic run directory in /tmp with --verdicts verdict rows (default 100,000) and the
rows above them in the proportions of a real run (4 responses per instruction, one instruction
per seed; 30% of answers pass, the failures carry a traceback; curation keeps one answer per
instruction that has a passing one). The text is real code cut from the bundled CPython corpus at
random places, so it compresses like a run's text, not like repeated filler. Then:

  render   ``selfalign report`` on it (gather + charts + template + gzip), wall seconds
  size     the HTML file, and the rows' JSON before compression (what the page would carry raw)
  open     headless chromium (Debian's, through playwright): file load until the sample browser
           is ready (index inflated, first page drawn, charts drawn), and the same for the
           report of a 40-row run as the baseline (plotly.js alone); one lineage opened; one
           search over every row

Ratios printed: compressed page / raw rows, open time 100k / open time of the small report.
Usage: python bench/report.py [--verdicts 100000] [--out bench/results/report.txt]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

from selfalign.records import Concepts, Example, Instruction, Response, Seed, Verdict
from selfalign.report.html import write_report
from selfalign.report.samples import collect_samples, embedded
from selfalign.settings import Config, to_toml
from selfalign.store import header

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "src" / "selfalign" / "data" / "corpus" / "cpython-3.11.jsonl.gz"
CATEGORIES, DIFFICULTIES = ("function", "class", "program"), ("easy", "medium", "hard")


def _lines() -> list[str]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        return [line for row in fh for line in json.loads(row)["content"].splitlines() if line.strip()]


def _cut(rng: random.Random, lines: list[str], n: int) -> str:
    start = rng.randrange(len(lines) - n)
    return "\n".join(lines[start:start + n])


def _write(path: Path, kind: str, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(header(kind)) + "\n")
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def build_run(run: Path, verdicts: int, seed: int = 0) -> None:
    rng, lines = random.Random(seed), _lines()
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    n_tasks = verdicts // 4
    seeds, concepts, instructions, responses, kept_v, failed_v, examples, not_selected = ([] for _ in range(8))
    for t in range(n_tasks):
        s = Seed(content=_cut(rng, lines, rng.randint(8, 25)), name=f"fn_{t}", path=f"Lib/m{t % 300}.py",
                 source="cpython-3.11", start_line=t)
        words = [w for w in _cut(rng, lines, 3).split() if w.isidentifier()][:4] or ["loops"]
        c = Concepts(parent_id=s.id, seed_id=s.id, seed=s.content, concepts=words)
        props = {"category": rng.choice(CATEGORIES), "difficulty": rng.choice(DIFFICULTIES),
                 "language": "Python", "concepts": words}
        i = Instruction(parent_id=c.id, seed_id=s.id, properties=props,
                        instruction=f"Write `task_{t}` that " + " ".join(_cut(rng, lines, 3).split())[:300])
        seeds.append(s.to_dict()), concepts.append(c.to_dict()), instructions.append(i.to_dict())
        chosen = False
        for k in range(4):
            solution, tests = _cut(rng, lines, rng.randint(6, 20)), _cut(rng, lines, 3)
            text = f"Reasoning: {' '.join(_cut(rng, lines, 2).split())}\n\n```python\n{solution}\n```\n\n```python\n{tests}\n```"
            r = Response(parent_id=i.id, seed_id=s.id, instruction=i.instruction, response=text,
                         solution=solution, tests=tests, sample=k)
            passed = rng.random() < 0.3
            error = "" if passed else f"line {rng.randint(1, 40)}: {_cut(rng, lines, 1).strip()[:80]}"
            exec_ = {"status": "pass" if passed else "fail", "exit_code": 0 if passed else 1,
                     "wall_s": round(rng.lognormvariate(-3, 0.8), 4), "peak_mb": 9.5,
                     "error_type": "" if passed else "AssertionError", "error": error, "stdout_tail": "",
                     "stderr_tail": "" if passed else f"Traceback (most recent call last):\n  File \"<program>\", "
                                                      f"{error}\nAssertionError\n",
                     "isolation": "bwrap+seccomp+uid"}
            v = Verdict(parent_id=r.id, seed_id=s.id, instruction_id=i.id, instruction=i.instruction,
                        response=text, solution=solution, tests=tests, sample=k,
                        status=exec_["status"], exec=exec_)
            responses.append(r.to_dict())
            if passed:
                kept_v.append(v.to_dict())
                if chosen:
                    not_selected.append({"reason": "not_selected", "detail": "one response per instruction",
                                         "record": {"id": v.id, "instruction_id": i.id}})
                else:
                    chosen = True
                    examples.append(Example(parent_id=v.id, seed_id=s.id, instruction_id=i.id, response_id=r.id,
                                            instruction=i.instruction, response=text).to_dict())
            else:
                failed_v.append({"reason": "exec:fail", "detail": "AssertionError", "record": v.to_dict()})
    files = {"seeds": ("seed", seeds, []), "concepts": ("concepts", concepts, []),
             "instructions": ("instruction", instructions, []), "responses": ("response", responses, []),
             "execute": ("verdict", kept_v, failed_v), "curate": ("example", examples, not_selected)}
    stages = {}
    for name, (kind, kept, dropped) in files.items():
        _write(run / f"{name}.jsonl", kind, kept)
        _write(run / f"{name}.dropped.jsonl", f"{kind}.dropped", dropped)
        drops: dict[str, int] = {}
        for d in dropped:
            drops[d["reason"]] = drops.get(d["reason"], 0) + 1
        stages[name] = {"status": "done", "in": len(kept) + len(dropped), "out": len(kept) + len(dropped),
                        "kept": len(kept), "dropped": drops, "seconds": 1.0,
                        **({"isolation": ["bwrap+seccomp+uid"]} if name == "execute" else {})}
    (run / "sft.jsonl").write_text("".join(json.dumps({"id": e["id"], "prompt": e["instruction"],
                                                       "completion": e["response"]}) + "\n" for e in examples))
    (run / "config.toml").write_text(to_toml(Config()))
    manifest = {"format": "selfalign.manifest", "version": 1, "python": sys.version.split()[0],
                "packages": {"selfalign": "bench"}, "config": {"run": {"limit": 0}}, "stages": stages}
    (run / "manifest.json").write_text(json.dumps(manifest, indent=1))


def open_times(browser, path: Path) -> dict[str, float]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    start = time.perf_counter()
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=300_000)
    out = {"open_s": time.perf_counter() - start}
    start = time.perf_counter()
    page.select_option("#f-stage", "execute")
    page.select_option("#f-status", "fail")
    page.locator("#rows tr").first.click()
    page.wait_for_selector("#lineage .node.focus", timeout=60_000)
    out["lineage_s"] = time.perf_counter() - start
    start = time.perf_counter()
    page.select_option("#f-status", "")
    page.select_option("#f-stage", "")
    page.evaluate("document.getElementById('q').value = 'assertionerror'; window.selfalignReport.filter()")
    out["search_s"] = time.perf_counter() - start
    out["matches"] = page.inner_text("#count")
    page.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verdicts", type=int, default=100_000)
    parser.add_argument("--work", default="/tmp/selfalign-bench-report")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "report.txt"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(args.work)
    lines = [f"# bench/report.py --verdicts {args.verdicts}  (load average {os.getloadavg()[0]:.2f}, "
             f"{os.cpu_count()} CPUs)"]
    results = {}
    for label, n in (("small", 40), ("large", args.verdicts)):
        run = work / label
        build_run(run, n)
        start = time.perf_counter()
        path = write_report(run, work / f"{label}.html")
        render_s = time.perf_counter() - start
        samples = collect_samples(run)
        raw = len(json.dumps([r.detail for r in samples.rows]).encode()) + len(json.dumps([r.title for r in samples.rows]).encode())
        packed = sum(len(c) for c in embedded(samples)["chunks"])
        results[label] = {"rows": len(samples.rows), "verdicts": n, "render_s": render_s,
                          "html_mb": path.stat().st_size / 1e6, "raw_mb": raw / 1e6, "packed_mb": packed / 1e6}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        for label in results:
            open_times(browser, work / f"{label}.html")       # warm-up: fonts, caches
            results[label] |= open_times(browser, work / f"{label}.html")
        browser.close()
    for label, r in results.items():
        lines.append(f"{label:>5}: {r['verdicts']} verdicts, {r['rows']} rows in all stages | render "
                     f"{r['render_s']:.1f} s | HTML {r['html_mb']:.1f} MB (row details {r['raw_mb']:.1f} MB "
                     f"as JSON -> {r['packed_mb']:.1f} MB gzip+base64) | open {r['open_s']:.2f} s | "
                     f"lineage {r['lineage_s']:.2f} s | search {r['search_s']:.2f} s ({r['matches']})")
    big, small = results["large"], results["small"]
    lines.append(f"ratio: row details in the page / as JSON = {big['packed_mb'] / big['raw_mb']:.2f}; "
                 f"open time large / small = {big['open_s'] / small['open_s']:.1f}x")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
