"""Curation end to end on literal rows: every rule, its drop reason, lineage, policies, order."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from selfalign.benchmarks import load
from selfalign.curate.config import CurateConfig
from selfalign.curate.curation import curate_rows, curate_verdicts
from selfalign.curate.report import CurationReport
from selfalign.quality.decontam import build
from selfalign.records import Dropped, Example, Verdict
from selfalign.sandbox import Limits, Sandbox

FAST = CurateConfig(decontaminate=False, stub_check=False)


def row(ident: str, instruction: str, name: str = "total", body: str = "return sum(xs)",
        tests: str | None = None, status: str = "pass", header: str = "Tests:", note: str = "", **extra) -> dict:
    code = f"def {name}(xs):\n    {body}"
    tests = tests if tests is not None else f"assert {name}([1, 2]) == 3\nassert {name}([]) == 0"
    response = (f"Reasoning: add the items{note}.\n\nSolution:\n```python\n{code}\n```\n\n"
                f"{header}\n```python\n{tests}\n```")
    return {"id": ident, "instruction": instruction, "response": response, "code": code, "tests": tests,
            "exec": {"status": status}, **extra}


def run(rows, cfg: CurateConfig = FAST, seed: int = 0, **kw) -> tuple[list[Example], dict[str, str], CurationReport]:
    report = CurationReport()
    out = list(curate_rows(rows, cfg, seed, report=report, **kw))
    examples = [o for o in out if isinstance(o, Example)]
    drops = {str(o.record.get("id", o.detail)): o.reason for o in out if isinstance(o, Dropped)}
    assert len(out) == len(rows)                      # every row is kept or dropped, exactly once
    return examples, drops, report


def test_each_rule_drops_with_its_reason():
    words = " ".join(f"w{i}" for i in range(201))
    rows = [row("ok", "Write total(xs) that returns the sum of a list of integers xs."),
            row("failed", "Write total2(xs) returning the sum of xs, or 0 for an empty list.", status="fail"),
            row("long", f"Write total(xs): {words}"),
            row("todo", "Write total3(xs) that adds up the numbers in xs one by one.",
                body="raise NotImplementedError"),
            row("true", "Write total4(xs) returning the total of xs as an integer value.", tests="assert True"),
            row("never", "Write total5(xs) that sums xs and returns the total to the caller.",
                tests="def test_total():\n    assert total([1]) == 1\n"),
            row("shadow", "Write total6(xs) that returns the arithmetic sum of the list xs.",
                tests="def total(xs):\n    assert total([1]) == 1\n"),
            row("nocall", "Write total7(xs), summing xs, and test it with a few lists.", tests="xs = [1, 2]\nassert sum(xs) == 3"),
            {"id": "broken", "instruction": "Write x."}]
    examples, drops, report = run(rows)
    assert drops == {"failed": "exec:fail", "long": "instruction_too_long", "todo": "placeholder",
                     "true": "tests:no_running_assert", "never": "tests:no_running_assert",
                     "shadow": "tests:redefines_solution", "nocall": "tests:no_call", "broken": "malformed"}
    assert [e.parent_id for e in examples] == ["ok"] and report.kept == 1 and report.rows_in == len(rows)
    assert sum(report.dropped.values()) == len(drops)


def test_tests_are_cut_from_the_answer_under_any_header():
    rows = [row(f"r{k}", f"Write total{k}(xs) that returns the sum of the numbers {k} times over.",
                name=f"total{k}", header=h) for k, h in enumerate(["Tests:", "**Tests:**", "### Tests"])]
    examples, drops, _ = run(rows)
    assert not drops and len(examples) == 3
    for ex in examples:
        assert "assert" not in ex.response and ex.response.endswith("```") and "Tests" not in ex.response


def test_one_answer_per_instruction_and_dedup():
    base = "Write a function total(xs) that returns the sum of the integers in the list xs."
    rows = [row("a1", base, instruction_id="i1"), row("a2", base, body="return sum(xs) + 0", instruction_id="i1"),
            row("dup-instruction", base.replace(" the ", "   the\n"), instruction_id="i2"),
            row("near-instruction", base + " Be quick.", name="adder", instruction_id="i3"),
            row("dup-answer", "Compute the sum of every number in a list and return it, please.",
                instruction_id="i4")]
    examples, drops, report = run(rows, CurateConfig(decontaminate=False, stub_check=False, near_dedup=["instruction"]))
    assert {"dup-instruction": "duplicate_instruction", "near-instruction": "near_duplicate_instruction"}.items() \
        <= drops.items()
    chosen = next(e.parent_id for e in examples if e.instruction_id == "i1")
    other = {"a1": "a2", "a2": "a1"}[chosen]
    assert drops[other] == "not_selected"
    # i4's answer equals i1's when a1 was drawn (the same text); otherwise it is kept
    assert (drops.get("dup-answer") == "duplicate_response") == (chosen == "a1")


def test_near_duplicate_code_keeps_diverse_function_names():
    body = "total = 0\n    for x in xs:\n        total += x * x\n    return total"
    rows = [row(f"r{k}", f"Task {k}: write {name}(xs) returning the sum of the squares of xs for exercise {k}.",
                name=name, body=body, tests=f"assert {name}([1, 2]) == 5", note=f" (take {k})")
            for k, name in enumerate(["sum_squares", "sum_squares", "sum_squares", "square_total"])]
    examples, drops, _ = run(rows)
    kept = sorted(e.meta["function"] for e in examples)
    assert kept == ["square_total", "sum_squares"] and Counter(drops.values()) == {"near_duplicate_code": 2}


@pytest.fixture(scope="module")
def index():
    return build(["humaneval", "mbpp"])


def test_decontamination_reports_the_benchmark_item(index):
    problem = load("humaneval")[0]
    short = next(p for p in load("mbpp", split="all") if p.task_id == "Mbpp/17").canonical_solution
    copied = row("copy", "Write square_perimeter(a) that returns the perimeter of a square with side a.",
                 tests="assert square_perimeter(2) == 8")
    copied["code"] = short.replace("def square_perimeter(a):", 'def square_perimeter(a):\n  """Perimeter."""')
    copied["response"] = f"Solution:\n```python\n{copied['code']}\n```"
    rows = [row("prompt", f"Complete this function:\n{problem.prompt}", instruction_id="inst-prompt"), copied,
            row("clean", "Write total(xs) that returns the sum of a list of integers xs.")]
    cfg = CurateConfig(stub_check=False)
    examples, drops, report = run(rows, cfg, index=index)
    assert drops == {"prompt": "decontam:exact", "copy": "decontam:function"}
    hits = {(h.row_id, h.field, h.benchmark_id) for h in report.decontam_hits}   # instruction hits name the instruction
    assert hits == {("inst-prompt", "instruction", "humaneval:HumanEval/0:prompt"),
                    ("copy", "response", "mbpp:Mbpp/17:solution")}


def test_policies_have_the_same_size_and_order_does_not_matter():
    rng = random.Random(5)
    rows = []
    for i in range(30):
        for k in range(3):
            status = "pass" if rng.random() < 0.4 else "fail"
            rows.append(row(f"i{i}-{k}", f"Exercise {i}: write total_{i}(xs) that returns the sum of xs, "
                                         f"version {i * 7919 % 101}.", name=f"total_{i}",
                            body=f"return sum(xs) + {k} * 0", status=status, instruction_id=f"i{i}"))
    passing, _, _ = run(rows)
    for policy in ("random", "failing"):
        cfg = CurateConfig(decontaminate=False, stub_check=False, policy=policy)
        examples, drops, report = run(rows, cfg)
        assert len(examples) == len(passing) == report.target_size and report.shortfall == 0
        if policy == "failing":
            assert all(e.parent_id in {r["id"] for r in rows if r["exec"]["status"] == "fail"} for e in examples)
    shuffled = rows[:]
    rng.shuffle(shuffled)
    again, _, _ = run(shuffled)
    assert [e.to_dict() for e in again] == [e.to_dict() for e in passing]


def test_verdicts_keep_their_lineage_and_augmentation_is_seeded():
    verdicts = [Verdict(parent_id=f"resp{k}", seed_id="seed1", instruction_id=f"inst{k}",
                        instruction=f"Write total{k}(xs) that returns the sum of a list of {k} integers.",
                        response=row("x", "i", name=f"total{k}")["response"], solution=f"def total{k}(xs):\n    return sum(xs)",
                        tests=f"assert total{k}([1, 2]) == 3\nassert total{k}([]) == 0", status="pass")
                for k in range(4)]
    seeds = {"seed1": {"source": "cpython-3.11.jsonl.gz", "path": "Lib/x.py:1-9", "license": "PSF-2.0"}}
    cfg = CurateConfig(decontaminate=False, stub_check=False, augment_p=1.0, augment_max=2)
    examples = [e for e in curate_verdicts(verdicts, cfg, 0, seeds=seeds) if isinstance(e, Example)]
    assert len(examples) == 4
    for ex, v in zip(examples, verdicts):
        assert (ex.parent_id, ex.response_id, ex.instruction_id, ex.seed_id) == (v.id, v.parent_id, v.instruction_id, "seed1")
        assert ex.meta["seed_license"] == "PSF-2.0" and ex.meta["seed_path"] == "Lib/x.py:1-9"
        assert "Your code should pass these assertions:" in ex.instruction and 1 <= ex.meta["asserts_appended"] <= 2
    again = [e for e in curate_verdicts(verdicts, cfg, 0, seeds=seeds) if isinstance(e, Example)]
    assert [e.instruction for e in again] == [e.instruction for e in examples]


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(Limits(timeout_s=5.0, memory_mb=1024), workers=2) as box:
        yield box


def test_stub_and_collected_tests_run_in_the_sandbox(sandbox):
    rows = [row("strong", "Write total(xs) that returns the sum of a list of integers xs."),
            row("weak", "Write report(xs) that prints every item of xs and returns nothing.", name="report",
                body="print(*xs)", tests="assert report([1]) is None"),
            row("not-none", "Write total2(xs) returning the sum of xs, or 0 for an empty list.", name="total2",
                tests="assert total2 is not None"),
            row("collected", "Write total3(xs) that adds up the numbers in xs one by one.", name="total3",
                tests="def test_total3():\n    assert total3([1, 2]) == 3\n"),
            row("collected-wrong", "Write total4(xs) returning the total of xs as an integer value.", name="total4",
                tests="def test_total4():\n    assert total4([1, 2]) == 4\n")]
    examples, drops, report = run(rows, CurateConfig(decontaminate=False), sandbox=sandbox)
    assert drops == {"weak": "tests:pass_stub", "not-none": "tests:no_call", "collected-wrong": "exec:fail"}
    assert sorted(e.parent_id for e in examples) == ["collected", "strong"]
    assert report.reruns == 2 and report.stub_passed == 1 and report.stub_unchecked == 0
