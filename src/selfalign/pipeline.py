"""Run the stages in order over a run directory, resumably.

A stage reads the kept records of the stage before it, in fixed chunks; each chunk's outputs (kept
and dropped) are written to ``.parts/<stage>/<chunk>.jsonl`` atomically. A chunk file that exists is
finished, so after a kill -9 the same command skips finished chunks, redoes at most the one that was
in flight (its LLM calls come back from the cache), and merges the parts, in order, into
``<stage>.jsonl`` and ``<stage>.dropped.jsonl``. The result is identical to an uninterrupted run.
Stages that need all their input at once (seed dedup, curation) are one chunk.

Each stage's config (and its upstream's) is hashed into the manifest; a finished stage whose config
changed is an error rather than a silent mix of two configurations.
"""

from __future__ import annotations

import itertools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from selfalign.config import Config, to_toml
from selfalign.context import StageContext
from selfalign.manifest import Manifest
from selfalign.records import Dropped, Record, content_hash
from selfalign.store import (AtomicJsonl, atomic_write_text, count_rows, header, iter_jsonl,
                             read_records, write_parquet)

StageFn = Callable[[StageContext, list[tuple[int, Record]]], Iterable[Record | Dropped]]


class PipelineError(RuntimeError):
    """The run directory is in a state the user must resolve (e.g. changed config)."""


@dataclass(frozen=True)
class Stage:
    name: str
    input: str | None                # stage whose kept output this one reads
    sections: tuple[str, ...]        # config sections that change this stage's output
    fn: StageFn
    whole: bool = False              # needs all input at once: one chunk
    limited: bool = False            # reads only the first run.limit input records
    finish: Callable[[StageContext], dict[str, str]] | None = None  # exports after merging

    @property
    def kind(self) -> str:
        """Record kind of the kept output."""
        return STAGE_KINDS[self.name]


def _stages() -> list[Stage]:
    # Imported here so that `import selfalign.pipeline` stays cheap for the CLI's --help.
    from selfalign.curate.select import curate_stage, export_sft
    from selfalign.generate.concepts import concepts_stage
    from selfalign.generate.instructions import instructions_stage
    from selfalign.generate.responses import responses_stage
    from selfalign.seeds.stage import seeds_stage
    from selfalign.sandbox.stage import execute_stage

    return [
        Stage("seeds", None, ("seeds",), seeds_stage, whole=True),
        Stage("concepts", "seeds", ("model", "concepts"), concepts_stage, limited=True),
        Stage("instructions", "concepts", ("model", "instructions"), instructions_stage),
        Stage("responses", "instructions", ("model", "responses"), responses_stage),
        Stage("execute", "responses", ("execute",), execute_stage),
        Stage("curate", "execute", ("curate",), curate_stage, whole=True, finish=export_sft),
    ]


# Stage name -> the record kind its kept file holds (what the next stage reads).
STAGE_KINDS = {"seeds": "seed", "concepts": "concepts", "instructions": "instruction",
               "responses": "response", "execute": "verdict", "curate": "example"}
STAGE_NAMES = tuple(STAGE_KINDS)


def stage_hash(config: Config, stage: Stage, upstream: str) -> str:
    sections = {name: getattr(config, name) for name in stage.sections}
    if stage.limited:
        sections["limit"] = config.run.limit
    return content_hash(stage.name, upstream, repr(sections), config.run.seed)


def run_pipeline(config: Config, only: list[str] | None = None, restart_from: str | None = None,
                 progress: bool = True, log: Callable[[str], None] = lambda _: None) -> Manifest:
    """Run all stages (or ``only`` some, which must have their inputs) and return the manifest."""
    run_dir = Path(config.run.dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load_or_create(run_dir, config)
    if restart_from:
        _forget_from(run_dir, manifest, restart_from)
    (run_dir / "config.toml").write_text(to_toml(config), encoding="utf-8")
    ctx = StageContext(config, run_dir, progress=progress)
    upstream = ""
    try:
        for stage in _stages():
            upstream = stage_hash(config, stage, upstream)
            if only and stage.name not in only:
                continue
            _run_stage(stage, ctx, manifest, upstream, log)
    finally:
        ctx.close()
        manifest.save()
    return manifest


def _forget_from(run_dir: Path, manifest: Manifest, name: str) -> None:
    if name not in STAGE_NAMES:
        raise PipelineError(f"unknown stage {name!r}; stages are {', '.join(STAGE_NAMES)}")
    for later in STAGE_NAMES[STAGE_NAMES.index(name):]:
        manifest.stages.pop(later, None)
        shutil.rmtree(run_dir / ".parts" / later, ignore_errors=True)
        for path in (run_dir / f"{later}.jsonl", run_dir / f"{later}.dropped.jsonl"):
            path.unlink(missing_ok=True)
    manifest.save()


def _run_stage(stage: Stage, ctx: StageContext, manifest: Manifest, digest: str,
               log: Callable[[str], None]) -> None:
    out = ctx.run_dir / f"{stage.name}.jsonl"
    entry = manifest.stages.get(stage.name, {})
    if entry.get("status") == "done" and out.exists():
        if entry.get("config_hash") != digest:
            raise PipelineError(
                f"stage {stage.name!r} in {ctx.run_dir} was run with a different configuration; "
                f"use a new run.dir, or rerun with --restart-from {stage.name}")
        log(f"{stage.name}: already done, skipping")
        return
    if stage.input and manifest.stages.get(stage.input, {}).get("status") != "done":
        raise PipelineError(f"stage {stage.name!r} needs the output of {stage.input!r}, "
                            f"which has not finished in {ctx.run_dir}; run it first")
    manifest.start(stage.name, digest)
    parts = _prepare_parts(ctx.run_dir / ".parts" / stage.name, ctx.config.run.chunk_size, digest)
    base = ctx.llm_stats()

    def llm_used() -> dict[str, int]:
        return {k: v - base[k] for k, v in ctx.llm_stats().items()}

    seen = _run_chunks(stage, ctx, parts, lambda: manifest.tick(stage.name, llm_used()), log)
    counts = _merge(stage, ctx.run_dir, parts)
    # A stage without input records (seed mining) counts the candidates it judged.
    counts["in"] = seen if stage.input else counts["out"]
    files = {"kept": out.name, "dropped": f"{stage.name}.dropped.jsonl"}
    if ctx.config.run.parquet:
        rows = [r.to_dict() for r in read_records(out, stage.kind)]
        write_parquet(out.with_suffix(".parquet"), rows)
        files["parquet"] = out.with_suffix(".parquet").name
    if stage.finish:
        files.update(stage.finish(ctx))
    manifest.finish(stage.name, counts, files, llm_used())
    shutil.rmtree(parts, ignore_errors=True)
    log(f"{stage.name}: {counts['in']} in, {counts['kept']} kept, dropped {counts['dropped']}")


def _prepare_parts(parts: Path, chunk_size: int, digest: str) -> Path:
    """Keep finished chunks only if they were cut the same way under the same config."""
    meta_path = parts / "meta.json"
    want = {"chunk_size": chunk_size, "config_hash": digest}
    if parts.exists():
        try:
            same = json.loads(meta_path.read_text()) == want
        except (OSError, json.JSONDecodeError):
            same = False
        if not same:
            shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    atomic_write_text(meta_path, json.dumps(want))
    return parts


def _inputs(stage: Stage, ctx: StageContext) -> tuple[Iterator[tuple[int, Record]], int | None]:
    if stage.input is None:
        return iter(()), None
    path = ctx.run_dir / f"{stage.input}.jsonl"
    total = count_rows(path)
    records: Iterable[Record] = read_records(path, STAGE_KINDS[stage.input])
    if stage.limited and ctx.config.run.limit > 0:
        records = itertools.islice(records, ctx.config.run.limit)
        total = min(total, ctx.config.run.limit)
    return enumerate(records), total


def _chunks(items: Iterator[tuple[int, Record]], size: int) -> Iterator[list[tuple[int, Record]]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _run_chunks(stage: Stage, ctx: StageContext, parts: Path, on_commit: Callable[[], None],
                log: Callable[[str], None]) -> int:
    """Run every unfinished chunk; return how many input records the stage read."""
    items, total = _inputs(stage, ctx)
    seen = 0
    chunks = [list(items)] if stage.whole else _chunks(items, ctx.config.run.chunk_size)
    with ctx.progress_bar(stage.name, total) as advance:
        for index, chunk in enumerate(chunks):
            part = parts / f"{index:06d}.jsonl"
            if part.exists():
                log(f"{stage.name}: chunk {index} already done")
            else:
                with AtomicJsonl(part) as writer:
                    for outcome in stage.fn(ctx, chunk):
                        writer.write(_part_row(outcome))
                on_commit()
            advance(len(chunk))
            seen += len(chunk)
    return seen


def _part_row(outcome: Record | Dropped) -> dict[str, Any]:
    if isinstance(outcome, Dropped):
        return {"dropped": outcome.to_dict()}
    return {"kept": outcome.to_dict()}


def _merge(stage: Stage, run_dir: Path, parts: Path) -> dict[str, Any]:
    counts: dict[str, Any] = {"kept": 0, "dropped": {}}
    kept_ids: set[str] = set()
    with AtomicJsonl(run_dir / f"{stage.name}.jsonl", header(stage.kind)) as kept, \
            AtomicJsonl(run_dir / f"{stage.name}.dropped.jsonl", header(f"{stage.kind}.dropped")) as dropped:
        for part in sorted(parts.glob("[0-9]*.jsonl")):
            for _, row in iter_jsonl(part):
                if "kept" in row:
                    if row["kept"]["id"] in kept_ids:  # same content from two parents: keep one
                        row = {"dropped": {"reason": "duplicate_id", "detail": "", "record": row["kept"]}}
                    else:
                        kept_ids.add(row["kept"]["id"])
                        kept.write(row["kept"])
                        continue
                reason = row["dropped"]["reason"]
                counts["dropped"][reason] = counts["dropped"].get(reason, 0) + 1
                dropped.write(row["dropped"])
    counts["kept"] = kept.count
    counts["out"] = kept.count + dropped.count
    return counts
