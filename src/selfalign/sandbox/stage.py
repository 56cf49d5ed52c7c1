"""The execute stage: run each response's solution + its own tests in the sandbox; keep passes.

A response that does not pass is dropped with ``exec:<status>`` as the reason and the full verdict
in the dropped file, so the funnel shows how many failed, timed out or crashed.
"""

from __future__ import annotations

from typing import Iterator

from selfalign.context import StageContext
from selfalign.generate.common import seed_id
from selfalign.records import Dropped, Record, Verdict


def execute_stage(ctx: StageContext, items: list[tuple[int, Record]]) -> Iterator[Record | Dropped]:
    from selfalign.sandbox import Program

    responses = {r.id: r for _, r in items}
    programs = (Program(id=r.id, code=r.solution, tests=r.tests) for r in responses.values())
    for program, result in ctx.sandbox.run(programs):
        r = responses[program.id]
        verdict = Verdict(parent_id=r.id, instruction_id=r.parent_id, instruction=r.instruction,
                          response=r.response, solution=r.solution, tests=r.tests,
                          status=result.status, exec=result.to_dict(),
                          meta={"seed_id": seed_id(r), "sample": r.sample})
        yield verdict if verdict.passed else Dropped(f"exec:{result.status}", verdict.to_dict(),
                                                     result.error_type or "")
