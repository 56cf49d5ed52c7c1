"""Stage 5: curate the passing verdicts into SFT examples, then export ``sft.jsonl`` in the
instruct template's prompt/completion form (see ``selfalign.curate``)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from selfalign.curate.config import CurateConfig
from selfalign.curate.select import curate
from selfalign.records import Dropped, Example, Record
from selfalign.stages.base import Items, Stage
from selfalign.stages.context import RunContext
from selfalign.store import AtomicJsonl, read_records
from selfalign.template import render_prompt

SFT_FILE = "sft.jsonl"


class CurateStage(Stage):
    name = "curate"
    input = "execute"
    sections = ("curate",)
    whole = True

    def __init__(self, cfg: CurateConfig, seed: int) -> None:
        self.cfg, self.seed = cfg, seed

    @classmethod
    def from_run(cls, run: RunContext) -> "CurateStage":
        return cls(run.config.curate, run.config.run.seed)

    def run(self, items: Items) -> Iterator[Record | Dropped]:
        return curate((verdict for _, verdict in items), self.cfg, self.seed)

    @classmethod
    def export(cls, run_dir: Path) -> dict[str, str]:
        """``sft.jsonl``: plain JSONL (no header: trainers read it directly), one row per example
        with the rendered ``prompt`` and the ``completion`` (BOS/EOS are added as tokens at training)."""
        with AtomicJsonl(run_dir / SFT_FILE) as out:
            for ex in read_records(run_dir / "curate.jsonl", "example"):
                assert isinstance(ex, Example)
                out.write({"id": ex.id, "prompt": render_prompt(ex.instruction), "completion": ex.response,
                           "instruction": ex.instruction, "response": ex.response, "seed_id": ex.seed_id,
                           "instruction_id": ex.instruction_id, "response_id": ex.response_id})
        return {"sft": SFT_FILE}
