"""Execution: run each response's solution + its own tests in the sandbox; keep passes.

Each response is two programs in one sandbox batch: the solution with its tests (collected
pytest-style, so ``test_*`` functions and ``TestCase`` classes really run), and a stub of the
solution (every body ``return None``) with the same tests, whose verdict curation reads to drop
tests that pass against nothing (``tests:pass_stub``). A response that does not pass is dropped
with ``exec:<status>`` as the reason and the full verdict in the dropped file, so the funnel
shows how many failed, timed out or crashed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from selfalign.curate.stubcheck import execution_programs, paired, verdict_exec
from selfalign.records import Dropped, Record, Response, Verdict
from selfalign.sandbox import Sandbox
from selfalign.stages.base import Items, Stage
from selfalign.stages.context import RunContext
from selfalign.store import iter_jsonl


class ExecuteStage(Stage):
    name = "execute"
    input = "responses"
    sections = ("execute",)
    node_wide = True          # one sandbox with a worker per core beats several small ones

    def __init__(self, sandbox: Sandbox, stub_timeout_s: float | None, with_stub: bool) -> None:
        self.sandbox, self.stub_timeout_s, self.with_stub = sandbox, stub_timeout_s, with_stub

    @classmethod
    def from_run(cls, run: RunContext) -> "ExecuteStage":
        curate = run.config.curate
        return cls(run.sandbox(), curate.stub_timeout_s, curate.stub_check)

    def run(self, items: Items) -> Iterator[Record | Dropped]:
        responses: dict[str, Response] = {r.id: r for _, r in items}
        programs = [program for r in responses.values()
                    for program in execution_programs(r.id, r.solution, r.tests, self.stub_timeout_s,
                                                      with_stub=self.with_stub)]
        for key, result, stub_result in paired(self.sandbox.run(programs)):
            assert result is not None
            r = responses[key]
            verdict = Verdict(parent_id=r.id, seed_id=r.seed_id, instruction_id=r.parent_id,
                              instruction=r.instruction, response=r.response, solution=r.solution,
                              tests=r.tests, status=result.status, sample=r.sample,
                              exec=verdict_exec(result, stub_result))
            yield verdict if verdict.passed else Dropped(f"exec:{result.status}", verdict.to_dict(),
                                                         result.error_type or "")

    @classmethod
    def summary(cls, run_dir: Path) -> dict[str, Any]:
        """The isolation level(s) the verdicts were reached under, read from the verdicts
        themselves (so a resumed stage reports what really ran, not what is configured now)."""
        levels: set[str] = set()
        for name in (f"{cls.name}.jsonl", f"{cls.name}.dropped.jsonl"):
            for _, row in iter_jsonl(run_dir / name):
                record = row.get("record", row) if isinstance(row, dict) else {}
                level = record.get("exec", {}).get("isolation") if isinstance(record, dict) else None
                if level:
                    levels.add(level)
        return {"isolation": sorted(levels)}
