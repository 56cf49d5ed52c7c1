"""Run the steps of a pipeline in order over a run directory, resumably.

Two kinds of step. A *record stage* (``stages/``: seeds ... curate) reads the kept records of
the stage before it in fixed chunks; an executor runs the chunks and one writer commits each
finished chunk as an atomic part file (``executor/parts.py``), so after a kill -9 the same
command skips finished chunks, redoes at most the ones in flight (their LLM calls come back from
the cache) and merges the parts, in order, into ``<stage>.jsonl`` and ``<stage>.dropped.jsonl``:
identical to an uninterrupted run. An *artifact step* writes a directory (an evaluation, the
trained model) and is marked complete only when it has finished.

Each step's config sections (and its upstream's) are hashed into the manifest; a finished step
whose config changed is an error rather than a silent mix of two configurations.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from selfalign.executor import ChunkTask, get_executor
from selfalign.executor.parts import StageParts
from selfalign.manifest import Manifest
from selfalign.progress import progress as progress_bar
from selfalign.records import STAGE_KINDS, Record, content_hash
from selfalign.seeds.config import portable_source
from selfalign.settings import Config, to_toml
from selfalign.stages.base import ArtifactStep, Stage, StageBuilder
from selfalign.stages.context import RunContext
from selfalign.store import atomic_write_text, count_rows, read_records, write_parquet

PACKAGE_DIR = Path(__file__).resolve().parent

COMPLETE = "COMPLETE.json"
Log = Callable[[str], None]


class PipelineError(RuntimeError):
    """The run directory is in a state the user must resolve (e.g. changed config)."""


def steps() -> list[type[Stage] | ArtifactStep]:
    """Every step in pipeline order (imported here so `import selfalign.pipeline` stays cheap)."""
    from selfalign.stages.concepts import ConceptsStage
    from selfalign.stages.curate import CurateStage
    from selfalign.stages.evaluate import BaseEvalStep, NativeEvalStep, TrainedEvalStep
    from selfalign.stages.execute import ExecuteStage
    from selfalign.stages.instructions import InstructionsStage
    from selfalign.stages.report import ReportStep
    from selfalign.stages.responses import ResponsesStage
    from selfalign.stages.seeds import SeedsStage
    from selfalign.stages.train import TrainStep

    return [BaseEvalStep(), NativeEvalStep(), SeedsStage, ConceptsStage, InstructionsStage, ResponsesStage,
            ExecuteStage, CurateStage, TrainStep(), TrainedEvalStep(), ReportStep()]


STEP_NAMES = ("eval_base", "eval_native", *STAGE_KINDS, "train", "eval_trained", "report")
LOOP_STEPS = STEP_NAMES   # what `selfalign experiment` runs: the whole self-alignment loop


def step_hash(config: Config, step: type[Stage] | ArtifactStep, upstream: str,
              portable: bool = True, filtered: bool = True) -> str:
    """A step's config digest: its sections, the limit where it applies, the seed, and its
    inputs' digests. Portable: a corpus shipped inside the package is named by its place in
    the package, not by where this checkout or venv happens to live. Filtered: the model's
    options count only where they change what the model writes (not a new API key, timeout or
    thread count), as in the LLM cache's key."""
    sections: dict[str, Any] = {name: getattr(config, name) for name in step.sections}
    if "model" in sections and filtered:
        sections["model"] = dataclasses.replace(config.model, options=_output_options(config.model))
    if portable and "seeds" in sections:
        sections["seeds"] = dataclasses.replace(
            config.seeds, sources=[portable_source(s, PACKAGE_DIR) for s in config.seeds.sources])
    if getattr(step, "limited", False):
        sections["limit"] = config.run.limit
    return content_hash(step.name, upstream, repr(sections), config.run.seed)


def _output_options(model: Any) -> dict[str, Any]:
    """``model.options`` without those its backend marks as speed-only (and without credentials
    whatever the backend); all of them when the backend cannot be told without loading."""
    from selfalign.config import is_secret
    from selfalign.llm import LLMError, backend_of

    options = {k: v for k, v in model.options.items() if not is_secret(k)}
    try:
        known = backend_of(model.model or None, model.backend or None).Options
    except LLMError:
        return options
    return {k: v for k, v in options.items() if known.changes_output(k)}


def step_digests(config: Config, portable: bool = True, filtered: bool = True) -> dict[str, str]:
    digests: dict[str, str] = {}
    for step in steps():
        upstream = "".join(digests.get(name, "") for name in _inputs_of(step))
        digests[step.name] = step_hash(config, step, upstream, portable, filtered)
    return digests


def _run_digests(config: Config, manifest: Manifest) -> dict[str, str]:
    """The digests this run directory is keyed by: the current ones, except for a run whose
    finished steps were recorded with the digests used before (which named the bundled corpus
    by its absolute path, or counted every model option), so that such a run still resumes
    where it is."""
    current = step_digests(config)
    recorded = {name: entry.get("config_hash") for name, entry in manifest.stages.items()}
    for portable, filtered in ((True, False), (False, False)):
        legacy = step_digests(config, portable, filtered)
        if any(recorded.get(n) == legacy[n] != current[n] for n in legacy):
            return legacy
    return current


def run_pipeline(config: Config, only: list[str] | None = None, restart_from: str | None = None,
                 progress: bool = True, log: Log = lambda _: None) -> Manifest:
    """Run the configured steps (or ``only`` some, whose inputs must exist); return the manifest."""
    selected = only or config.run.steps
    check_before_work(config, selected, restart_from)
    run_dir = Path(config.run.dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load_or_create(run_dir, config)
    if restart_from:
        _forget_from(run_dir, manifest, restart_from)
    # Before config.toml is rewritten: a run refused for a changed config keeps the config its
    # outputs were made with.
    digests = _run_digests(config, manifest)
    _check_finished_steps(digests, manifest, run_dir, selected)
    atomic_write_text(run_dir / "config.toml", to_toml(config))
    ctx = RunContext(config, run_dir, progress=progress)
    try:
        for step in steps():
            digest = digests[step.name]
            if step.name not in selected:
                continue
            if isinstance(step, ArtifactStep):
                _run_artifact(step, ctx, manifest, digest, {n: digests[n] for n in step.inputs}, log)
            else:
                _run_stage(step, ctx, manifest, digest, log)
    finally:
        ctx.close()
        manifest.save()
    return manifest


def check_before_work(config: Config, selected: list[str], restart_from: str | None = None) -> None:
    """Refuse what can be refused before the run directory is made and before hours of work:
    unknown steps, a model that cannot load, a sandbox that cannot isolate programs here."""
    unknown = sorted(set(selected) - set(STEP_NAMES))
    if unknown:
        raise PipelineError(f"unknown step(s) {', '.join(unknown)}; steps are {', '.join(STEP_NAMES)}")
    if restart_from and restart_from not in STEP_NAMES:
        raise PipelineError(f"cannot restart from {restart_from!r}: unknown step; steps are "
                            f"{', '.join(STEP_NAMES)}")
    if _needs_model(config, selected):
        from selfalign.llm import check_model

        m = config.model
        check_model(m.model or None, m.backend or None, m.options)
    if "execute" in selected:
        from selfalign.sandbox.pool import isolation_level

        isolation_level(config.execute.isolation)


def _check_finished_steps(digests: dict[str, str], manifest: Manifest, run_dir: Path,
                          selected: list[str]) -> None:
    """Every selected step that has finished must have been made with this configuration (once,
    before anything is written: the steps themselves then only skip what has finished)."""
    for step in steps():
        record = _finished(step, manifest, run_dir) if step.name in selected else None
        if record is not None:
            _check_resumable(step.name, record, digests[step.name], run_dir)


def _finished(step: type[Stage] | ArtifactStep, manifest: Manifest, run_dir: Path) -> dict[str, Any] | None:
    """What records a finished step and its config hash: an artifact step's marker, or a
    stage's manifest entry once its output exists; None while the step is not done."""
    if isinstance(step, ArtifactStep):
        return _read_marker(run_dir / step.name / COMPLETE)
    entry = manifest.stages.get(step.name, {})
    return entry if entry.get("status") == "done" and (run_dir / f"{step.name}.jsonl").exists() else None


def _needs_model(config: Config, selected: list[str]) -> bool:
    """Whether a selected step loads the model (a generation step, evaluation, training, or
    seed mining with the model as judge)."""
    if "seeds" in selected and config.seeds.judge:
        return True
    return any(step.name in selected and "model" in step.sections for step in steps())


def _inputs_of(step: type[Stage] | ArtifactStep) -> tuple[str, ...]:
    if isinstance(step, ArtifactStep):
        return step.inputs
    return (step.input,) if step.input else ()


def _forget_from(run_dir: Path, manifest: Manifest, name: str) -> None:
    for later in STEP_NAMES[STEP_NAMES.index(name):]:
        manifest.stages.pop(later, None)
        shutil.rmtree(run_dir / ".parts" / later, ignore_errors=True)
        if later not in STAGE_KINDS:
            shutil.rmtree(run_dir / later, ignore_errors=True)
        for path in (run_dir / f"{later}.jsonl", run_dir / f"{later}.dropped.jsonl"):
            path.unlink(missing_ok=True)
    manifest.save()


def _check_resumable(name: str, entry: dict[str, Any], digest: str, run_dir: Path) -> None:
    if entry.get("config_hash") != digest:
        raise PipelineError(f"step {name!r} in {run_dir} was run with a different configuration; "
                            f"use a new run.dir, or rerun with --restart-from {name}")


def _run_stage(stage: type[Stage], ctx: RunContext, manifest: Manifest, digest: str, log: Log) -> None:
    out = ctx.run_dir / f"{stage.name}.jsonl"
    if _finished(stage, manifest, ctx.run_dir) is not None:
        log(f"{stage.name}: already done, skipping")
        return
    if stage.input and manifest.stages.get(stage.input, {}).get("status") != "done":
        raise PipelineError(f"stage {stage.name!r} needs the output of {stage.input!r}, "
                            f"which has not finished in {ctx.run_dir}; run it first")
    manifest.start(stage.name, digest)
    size = ctx.chunk_size()
    parts = StageParts(ctx.run_dir, stage.name, size, digest)
    base = ctx.llm_stats()

    def llm_used() -> dict[str, int]:
        return {k: v - base[k] for k, v in ctx.llm_stats().items()}

    seen = _run_chunks(stage, ctx, parts, size, lambda: manifest.tick(stage.name, llm_used()), log)
    counts = parts.merge(STAGE_KINDS[stage.name])
    # A stage without input records (seed mining) counts the candidates it judged.
    counts["in"] = seen if stage.input else counts["out"]
    files = {"kept": out.name, "dropped": f"{stage.name}.dropped.jsonl"}
    if ctx.config.run.parquet:
        rows = [r.to_dict() for r in read_records(out, STAGE_KINDS[stage.name])]
        write_parquet(out.with_suffix(".parquet"), rows)
        files["parquet"] = out.with_suffix(".parquet").name
    files.update(stage.export(ctx.run_dir))
    used = llm_used()
    model = {"model": ctx.llm_identity()} if used["calls"] + used["cache_hits"] else {}
    manifest.finish(stage.name, {**counts, **stage.summary(ctx.run_dir), **model}, files, used)
    parts.remove()
    log(f"{stage.name}: {counts['in']} in, {counts['kept']} kept, dropped {counts['dropped']}")


def _inputs(stage: type[Stage], ctx: RunContext) -> tuple[Iterator[tuple[int, Record]], int | None]:
    if stage.input is None:
        return iter(()), None
    path = ctx.run_dir / f"{stage.input}.jsonl"
    total = count_rows(path)
    records: Iterable[Record] = read_records(path, STAGE_KINDS[stage.input])
    if stage.limited and ctx.config.run.limit > 0:
        records = itertools.islice(records, ctx.config.run.limit)
        total = min(total, ctx.config.run.limit)
    return enumerate(records), total


def _tasks(stage: type[Stage], items: Iterator[tuple[int, Record]], size: int) -> Iterator[ChunkTask]:
    if stage.whole:
        yield ChunkTask(0, list(items))
        return
    for index in itertools.count():
        chunk = list(itertools.islice(items, size))
        if not chunk:
            return
        yield ChunkTask(index, chunk)


def _run_chunks(stage: type[Stage], ctx: RunContext, parts: StageParts, size: int,
                on_commit: Callable[[], None], log: Log) -> int:
    """Hand every unfinished chunk to the executor; return how many input records the stage read."""
    items, total = _inputs(stage, ctx)
    seen = 0
    # Seed mining reads no records (it reports its own passes over the corpus): no bar of its own.
    shown = ctx.show_progress and stage.input is not None
    with progress_bar(stage.name, total, enabled=shown) as advance:
        def todo() -> Iterator[ChunkTask]:
            nonlocal seen
            for task in _tasks(stage, items, size):
                seen += len(task.items)
                if parts.done(task.index):
                    log(f"{stage.name}: chunk {task.index} already done")
                    advance(len(task.items))
                else:
                    yield task

        def commit(task: ChunkTask, outcomes: list) -> None:
            parts.commit(task, outcomes)
            on_commit()
            advance(len(task.items))

        run = ctx.config.run
        get_executor(run.executor, run.ray).run(StageBuilder(stage, ctx), todo(), commit)
    return seen


def _run_artifact(step: ArtifactStep, ctx: RunContext, manifest: Manifest, digest: str,
                  inputs: dict[str, str], log: Log) -> None:
    out_dir = ctx.run_dir / step.name
    if _finished(step, manifest, ctx.run_dir) is not None:
        log(f"{step.name}: already done, skipping")
        return
    for name in inputs:
        if manifest.stages.get(name, {}).get("status") != "done":
            raise PipelineError(f"step {step.name!r} needs the output of {name!r}, "
                                f"which has not finished in {ctx.run_dir}; run it first")
    manifest.start(step.name, digest)
    base = ctx.llm_stats()
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = step.build(ctx, out_dir)
    llm = {k: v - base[k] for k, v in ctx.llm_stats().items()}
    identity = ctx.llm_identity()
    entry = {"kind": "artifact", "dir": step.name, "inputs": inputs, "summary": summary,
             **({"model": identity} if identity else {})}
    manifest.finish(step.name, entry, {"dir": step.name, "marker": f"{step.name}/{COMPLETE}"}, llm)
    record = {"step": step.name, "config_hash": digest, "inputs": inputs, "finished": time.time(),
              "seconds": manifest.stages[step.name]["seconds"], "summary": summary}
    atomic_write_text(out_dir / COMPLETE, json.dumps(record, indent=2) + "\n")
    log(f"{step.name}: done ({summary})")


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
