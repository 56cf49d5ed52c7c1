"""The ``eval_base`` step: evaluate the run's model before any self-alignment, on the ``[eval]``
benchmarks, into ``<run dir>/eval_base/`` (samples, verdicts, results.json).

It goes through the run's cached LLM, so a resumed step regenerates nothing, and the
evaluation's own sample files resume a step killed halfway. Off unless ``run.steps`` names it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from selfalign.stages.base import ArtifactStep
from selfalign.stages.context import RunContext


class BaseEvalStep(ArtifactStep):
    name = "eval_base"
    inputs = ()
    sections = ("model", "eval")

    def build(self, run: RunContext, out_dir: Path) -> dict[str, Any]:
        from selfalign.evaluate.evaluate import run_eval

        config = dataclasses.replace(run.config.eval, output_dir=str(out_dir))
        results = run_eval(config, run.llm(), run_info={"step": self.name})
        return {"results": "results.json",
                "scores": {r.benchmark: r.pass_at() for r in results}}
