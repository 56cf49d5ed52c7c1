"""The execute step's programs (verdict + stub, one batch) and how their results pair up."""

from __future__ import annotations

from selfalign.curate.collect import collect_tests
from selfalign.curate.stubcheck import (STUB_SUFFIX, execution_programs, missing_programs, paired,
                                        verdict_exec)
from selfalign.sandbox import Limits, Sandbox

SOLUTION = "def inc(x):\n    return x + 1\n"


def test_programs_pair_up_in_one_batch():
    tests = "def test_inc():\n    assert inc(1) == 2\n"
    programs = (execution_programs("a", SOLUTION, tests, 2.0) + execution_programs("b", "def broken(:", "assert 1")
                + execution_programs("c", SOLUTION, "assert inc(0) is None", 2.0))
    assert [p.id for p in programs] == ["a", "a" + STUB_SUFFIX, "b", "c", "c" + STUB_SUFFIX]
    assert programs[0].tests == collect_tests(tests) and programs[1].timeout_s == 2.0
    with Sandbox(Limits(timeout_s=5.0), workers=2) as sandbox:
        runs = {key: (real, stub) for key, real, stub in paired(sandbox.run(programs))}
    assert runs["a"][0].status == "pass" and runs["a"][1].status == "fail"     # strong tests
    assert runs["b"][0].status == "fail" and runs["b"][1] is None              # no stub of broken code
    assert runs["c"][0].status == "fail" and runs["c"][1].status == "pass"     # weak: the stub passes
    merged = verdict_exec(*runs["a"])
    assert merged["tests_collected"] is True and merged["stub"]["status"] == "fail"


def test_missing_programs_only_what_a_row_lacks():
    row = {"code": SOLUTION, "tests": "assert inc(1) == 2", "exec": {"status": "pass"}}
    assert [p.id for p in missing_programs("k", row, True, 3.0)] == ["k" + STUB_SUFFIX]
    done = {**row, "exec": {"status": "pass", "stub": {"status": "fail"}}}
    assert missing_programs("k", done, True, 3.0) == []
    failed = {**row, "exec": {"status": "fail"}}
    assert missing_programs("k", failed, True, 3.0) == []                        # a fail needs no stub
    pytest_style = {**row, "tests": "def test_inc():\n    assert inc(1) == 2\n", "exec": {"status": "pass"}}
    assert [p.id for p in missing_programs("k", pytest_style, True, 3.0)] == ["k", "k" + STUB_SUFFIX]
    assert [p.id for p in missing_programs("k", pytest_style, False, 3.0)] == ["k"]
