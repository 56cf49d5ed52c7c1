"""What a pipeline stage is: a small object that turns one chunk of input records into kept
records and drops, plus the facts the pipeline needs to schedule and resume it.

A stage declares its ``name``, the stage whose kept output it reads (``input``), the config
sections that change its output (``sections``: hashed, so a changed config is caught on resume),
and whether it needs all its input in one chunk (``whole``: seed mining, curation) or reads only
the first ``run.limit`` records (``limited``), and whether one instance uses every CPU it is
given (``node_wide``: the sandbox's worker pool; a distributed executor runs one per node). ``from_run`` builds it from the run context, taking
only what it uses; ``run(items)`` is a generator over ``(index, record)`` pairs, so any executor
(in process, Ray) can run any chunk alone and get the same output. Per-item randomness comes
from (stage, global seed + item index), never from chunk boundaries or arrival order.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

from selfalign.records import Dropped, Record, content_hash
from selfalign.stages.context import RunContext

Items = list[tuple[int, Any]]


class Stage(ABC):
    name: ClassVar[str]
    input: ClassVar[str | None]
    sections: ClassVar[tuple[str, ...]]
    whole: ClassVar[bool] = False
    limited: ClassVar[bool] = False
    node_wide: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def from_run(cls, run: RunContext) -> "Stage":
        """Build the stage with the resources it needs (called only when it has work to do)."""

    @abstractmethod
    def run(self, items: Items) -> Iterator[Record | Dropped]:
        """Kept records and drops for one chunk of ``(input index, record)`` pairs."""

    @classmethod
    def export(cls, run_dir: Path) -> dict[str, str]:
        """Files written from the merged output (e.g. sft.jsonl): {role: file name}."""
        return {}

    @classmethod
    def summary(cls, run_dir: Path) -> dict[str, Any]:
        """Facts about the merged output for the manifest (e.g. the isolation level used)."""
        return {}


@dataclass(frozen=True)
class StageBuilder:
    """What an executor calls to build a stage (once per process that runs chunks): the stage
    and the run context it is built from, so an executor that runs chunks in other processes
    can send the same stage with a context of their own (``RunContext.for_worker``)."""

    stage: type[Stage]
    run: RunContext

    def __call__(self) -> Stage:
        return self.stage.from_run(self.run)


def item_rng(seed: int, stage: str, index: int) -> random.Random:
    """The random draws (few-shot picks, properties) of item ``index`` of a stage."""
    return random.Random(f"{stage}/{seed + index}")


def sampling_seed(seed: int, stage: str, index: int) -> int:
    """The LLM sampling seed of item ``index`` of a stage."""
    return int(content_hash(stage, seed + index), 16) % (2**31 - 1)


class ArtifactStep(ABC):
    """A step that produces an artifact (an evaluation, a trained model) instead of records.

    It writes into its own directory ``<run dir>/<name>/``; the pipeline marks it complete
    (``COMPLETE.json``: config hash, inputs, timings, summary) only after ``build`` returns, so a
    killed step is run again and ``build`` resumes from whatever it left in its directory
    (evaluation sample files, training checkpoints)."""

    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]] = ()       # earlier steps whose outputs it reads
    sections: ClassVar[tuple[str, ...]]

    @abstractmethod
    def build(self, run: RunContext, out_dir: Path) -> dict[str, Any]:
        """Write the artifact into ``out_dir``; return a small JSON summary for the manifest."""
