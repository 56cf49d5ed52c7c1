"""How much of a before/after change is the model's conversion, and how much its training.

The loop evaluates the base from its own file (e.g. a Q4 GGUF) and the trained model from its
export (dequantized, trained, written as q8_0). A control makes the same trip with no learning:
``selfalign train`` at a vanishing learning rate (1e-30: no weight moves in fp32) exports the
base the same way, and is evaluated with the same settings. This script puts the three
evaluations side by side, problem by problem, with the library's own comparison
(``selfalign eval --compare``): base -> control is the conversion, control -> trained the
training. It also counts greedy samples whose text is identical between two evaluations.

    python bench/control.py BASE_EVAL CONTROL_EVAL TRAINED_EVAL
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from selfalign.evaluate.compare import compare_results  # noqa: E402


NAMES = {"humaneval+": "HumanEval+", "mbpp+": "MBPP+"}


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text(encoding="utf-8"))


def samples(run: Path, benchmark: str) -> dict[str, str]:
    stem = benchmark.replace("+", "plus")
    path = run / f"{stem}.samples.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["task_id"]: r.get("raw", r.get("solution", "")) for r in rows if r.get("sample", 0) == 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path)
    parser.add_argument("control", type=Path)
    parser.add_argument("trained", type=Path)
    args = parser.parse_args()
    runs = {"base": args.base, "control": args.control, "trained": args.trained}
    loaded = {name: results(path) for name, path in runs.items()}
    print("| step | benchmark (greedy pass@1) | A | B | B - A | fixed | broken | identical greedy samples |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, a, b in (("conversion: base -> control", "base", "control"),
                        ("training: control -> trained", "control", "trained"),
                        ("both: base -> trained", "base", "trained")):
        for comp in compare_results(loaded[a], loaded[b]):
            text_a, text_b = samples(runs[a], comp.benchmark), samples(runs[b], comp.benchmark)
            same = sum(text_a[t] == text_b.get(t) for t in text_a)
            for metric in sorted(comp.scores_a, key=lambda m: (not m.startswith("base"), m)):
                if metric not in comp.scores_b or not metric.endswith("pass@1"):
                    continue
                first = metric.startswith("base")
                va, vb = comp.scores_a[metric], comp.scores_b[metric]
                name = NAMES.get(comp.benchmark, comp.benchmark)
                name = name.rstrip("+") if first else name      # the base tests: HumanEval, MBPP
                print(f"| {label} | {name} | {va:.1f} | {vb:.1f} | {vb - va:+.1f} | "
                      f"{'' if first else len(comp.fixed)} | {'' if first else len(comp.broken)} | "
                      f"{'' if first else f'{same} of {len(text_a)}'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
