"""The runs curation needs from the sandbox: tests collected pytest-style, and the stub run.

For every response the execute step runs two programs in the same batch: the solution with
``collect_tests(tests)`` (the verdict), and ``stub(solution)`` with the same tests (the stub
verdict, under a short time limit). ``execution_programs`` makes the pair, ``paired`` puts the
results back together and ``verdict_exec`` merges them into the verdict's ``exec`` object
(``tests_collected: true``, ``stub: {status, error_type, error}``), which is what curation reads.
``missing_programs`` lists the runs a row still lacks (``selfalign curate`` on ``selfalign
execute`` output, or a run made before this existed); curation runs them in one sandbox batch.

The trade-off: the stub doubles the programs run; most stubs fail on their first assert in
milliseconds, and a stub past ``stub_timeout_s`` simply counts as not passing.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from selfalign.curate.collect import collect_tests
from selfalign.curate.tests_strength import stub
from selfalign.sandbox import ExecResult, Program

STUB_SUFFIX = "#stub"
COLLECTED = "tests_collected"
STUB = "stub"


def execution_programs(key: str, solution: str, tests: str, stub_timeout_s: float | None = 3.0,
                       with_stub: bool = True) -> list[Program]:
    """The verdict's program and, unless the solution does not parse, the stub's."""
    collected = collect_tests(tests)
    programs = [Program(id=key, code=solution, tests=collected)]
    stubbed = stub(solution) if with_stub else None
    if stubbed is not None:
        programs.append(Program(id=key + STUB_SUFFIX, code=stubbed, tests=collected, timeout_s=stub_timeout_s))
    return programs


Runs = tuple[str, "ExecResult | None", "ExecResult | None"]   # key, verdict, stub verdict


def paired(results: Iterable[tuple[Program, ExecResult]]) -> Iterator[Runs]:
    """(key, verdict, stub verdict) from ``Sandbox.run`` over ``execution_programs`` (or
    ``missing_programs``) output: a key's programs are consecutive and results come back in
    input order, so consecutive results with one key belong together; a run not made is None."""
    key: str | None = None
    found: dict[bool, ExecResult] = {}
    for program, result in results:
        is_stub = program.id.endswith(STUB_SUFFIX)
        base = program.id[: -len(STUB_SUFFIX)] if is_stub else program.id
        if base != key and key is not None:
            yield key, found.get(False), found.get(True)
            found = {}
        key, found[is_stub] = base, result
    if key is not None:
        yield key, found.get(False), found.get(True)


def stub_summary(result: ExecResult) -> dict[str, Any]:
    return {"status": result.status, "error_type": result.error_type, "error": (result.error or "")[:300]}


def verdict_exec(result: ExecResult, stub_result: ExecResult | None) -> dict[str, Any]:
    """The ``exec`` object of a verdict whose tests ran collected, with its stub verdict."""
    out = {**result.to_dict(), COLLECTED: True}
    if stub_result is not None:
        out[STUB] = stub_summary(stub_result)
    return out


def is_collected(row: dict[str, Any]) -> bool:
    """Did the row's verdict come from the collected tests (or would collection change nothing)?"""
    return bool(row["exec"].get(COLLECTED)) or collect_tests(row["tests"]) == row["tests"]


def stub_status(row: dict[str, Any]) -> str | None:
    found = row["exec"].get(STUB)
    return found.get("status") if isinstance(found, dict) else None


def missing_programs(key: str, row: dict[str, Any], want_stub: bool, stub_timeout_s: float) -> list[Program]:
    """The runs a curation row still lacks: its collected tests (when its verdict came from
    uncollected tests that collection changes) and its stub (for a pass, or a row re-run)."""
    rerun = not is_collected(row)
    programs = execution_programs(key, row["code"], row["tests"], stub_timeout_s, with_stub=want_stub)
    if want_stub and (stub_status(row) is not None or not (rerun or row["exec"]["status"] == "pass")):
        programs = programs[:1]
    return programs if rerun else programs[1:]
