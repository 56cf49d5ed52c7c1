"""The seeds stage: sources -> extraction + cheap filters (parallel) -> exact dedup ->
decontamination -> type check (batched) -> MinHash near-dedup (global) -> model judge.

Expensive steps run last, on what the cheap ones kept. Extraction and the per-function filters
run in a process pool over batches of files (parsing is CPU-bound and files are independent);
everything after needs the whole set (dedup is global) and runs in this process, so candidates
are held in memory between phases: about 1 KB each, a few hundred MB at The Stack's 5M functions.
The trade-off: no output until extraction is done, in exchange for simple, order-stable results
(the same corpus always yields the same seeds in the same order).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from contextlib import contextmanager
from typing import Any, Iterator

from selfalign.curate import decontam as decontam_mod
from selfalign.curate.dedup import ExactDeduper, MinHashParams, near_duplicates
from selfalign.records import Dropped, Seed

from .config import SeedsConfig
from .extract import Candidate, extract
from .filters import apply_filters
from .sources import SourceFile, iter_sources
from .typecheck import type_errors

log = logging.getLogger(__name__)
_FILE_BATCH = 256


def mine_seeds(cfg: SeedsConfig, llm: Any | None = None, progress: bool = True) -> Iterator[Seed | Dropped]:
    """Mine seeds from ``cfg.sources``: yields every ``Dropped`` (with its reason) and then the
    kept ``Seed`` records in corpus order."""
    if cfg.judge and llm is None:
        raise ValueError("seeds.judge is on but no model was given; pass llm= or set seeds.judge = false")
    meter = _Meter(progress)
    candidates: list[Candidate] = []
    with meter.phase("extract + filter") as tick:
        for item in _extracted(cfg):
            if isinstance(item, Dropped):
                yield item
            else:
                candidates.append(item)
            tick()
    steps = [_exact_dedup, _decontaminate, _typecheck, _near_dedup, _judge]
    for step in steps:
        with meter.phase(step.__name__.strip("_")) as tick:
            kept: list[Candidate] = []
            for item in step(candidates, cfg, llm):
                if isinstance(item, Dropped):
                    yield item
                else:
                    kept.append(item)
                tick()
        candidates = kept
    for c in candidates[: cfg.limit or None]:
        yield Seed(content=c.content, name=c.name, source=c.source, path=c.path,
                   start_line=c.start_line, end_line=c.end_line, license=c.license, meta=c.meta)


def _process_file(file: SourceFile, cfg: SeedsConfig) -> list[Candidate | Dropped]:
    out: list[Candidate | Dropped] = []
    for item in extract(file, cfg.include_methods):
        if isinstance(item, Candidate):
            failed = apply_filters(item, cfg)
            if failed:
                item = Dropped(failed[0], item.describe(), failed[1])
        out.append(item)
    return out


_WORKER_CFG: SeedsConfig | None = None


def _init_worker(cfg: SeedsConfig) -> None:
    global _WORKER_CFG
    _WORKER_CFG = cfg


def _worker(file: SourceFile) -> list[Candidate | Dropped]:
    assert _WORKER_CFG is not None
    return _process_file(file, _WORKER_CFG)


def _batches(cfg: SeedsConfig) -> Iterator[list[SourceFile | Dropped]]:
    batch: list[SourceFile | Dropped] = []
    for item in iter_sources(cfg):
        batch.append(item)
        if len(batch) >= _FILE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _extracted(cfg: SeedsConfig) -> Iterator[Candidate | Dropped]:
    """Files are read here and parsed in worker processes, one bounded batch at a time, so
    memory stays flat however big the corpus is."""
    workers = cfg.workers or os.cpu_count() or 1
    pool = multiprocessing.get_context("fork").Pool(workers, _init_worker, (cfg,)) if workers > 1 else None
    try:
        for batch in _batches(cfg):
            files = [f for f in batch if isinstance(f, SourceFile)]
            yield from (d for d in batch if isinstance(d, Dropped))
            results = pool.imap(_worker, files, chunksize=4) if pool else (_process_file(f, cfg) for f in files)
            for result in results:
                yield from result
    finally:
        if pool:
            pool.terminate()
            pool.join()


def _exact_dedup(cands: list[Candidate], cfg: SeedsConfig, llm: Any) -> Iterator[Candidate | Dropped]:
    deduper = ExactDeduper()
    for c in cands:
        where = f"{c.source}:{c.path}:{c.start_line}"
        if not cfg.exact_dedup or deduper.first(c.content, where):
            yield c
        else:
            yield Dropped("dedup:exact", c.describe(), f"same as {deduper.original(c.content)}")


def _decontaminate(cands: list[Candidate], cfg: SeedsConfig, llm: Any) -> Iterator[Candidate | Dropped]:
    if not cfg.decontaminate:
        yield from cands
        return
    index = decontam_mod.build(cfg.benchmarks, cfg.benchmark_dir, cfg.benchmark_files,
                               cfg.decontam_ngram, cfg.decontam_overlap)
    log.info("decontaminating against %d benchmark texts", len(index))
    for c in cands:
        hit = index.check(c.content)
        yield c if hit is None else Dropped(hit.reason, c.describe(), f"{hit.benchmark_id} ({hit.overlap:.0%})")


def _typecheck(cands: list[Candidate], cfg: SeedsConfig, llm: Any) -> Iterator[Candidate | Dropped]:
    if not cfg.typecheck:
        yield from cands
        return
    for start in range(0, len(cands), cfg.typecheck_batch):
        batch = cands[start:start + cfg.typecheck_batch]
        for c, errors in zip(batch, type_errors([c.content for c in batch])):
            yield c if not errors else Dropped("typecheck:error", c.describe(), "; ".join(errors[:3]))


def _near_dedup(cands: list[Candidate], cfg: SeedsConfig, llm: Any) -> Iterator[Candidate | Dropped]:
    if not cfg.near_dedup:
        yield from cands
        return
    params = MinHashParams(cfg.num_perm, cfg.shingle_size, cfg.near_dedup_threshold, cfg.seed)
    kept_as = near_duplicates([c.content for c in cands], params)
    for c, original in zip(cands, kept_as):
        if original < 0:
            yield c
        else:
            o = cands[original]
            yield Dropped("dedup:near", c.describe(), f"near {o.source}:{o.path}:{o.start_line}")


def _judge(cands: list[Candidate], cfg: SeedsConfig, llm: Any) -> Iterator[Candidate | Dropped]:
    if not cfg.judge:
        yield from cands
        return
    from .judge import judge

    for start in range(0, len(cands), cfg.judge_batch):
        batch = cands[start:start + cfg.judge_batch]
        items = [(Seed(content=c.content).id, c.content) for c in batch]
        verdicts = judge(llm, items, cfg.judge_samples, cfg.judge_temperature, cfg.seed)
        for c, (keep, answers) in zip(batch, verdicts):
            yield c if keep else Dropped("judge:no", c.describe(), f"answers: {answers}")


class _Meter:
    """Progress on stderr: one rich line per phase with its item count, rate and elapsed time."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @contextmanager
    def phase(self, name: str) -> Iterator[Any]:
        count, start = [0], time.perf_counter()

        def describe() -> str:
            elapsed = max(time.perf_counter() - start, 1e-9)
            return f"seeds {name}: {count[0]} items, {count[0] / elapsed:,.0f}/s"

        if not self.enabled:
            yield lambda: count.__setitem__(0, count[0] + 1)
            log.info("%s in %.1fs", describe(), time.perf_counter() - start)
            return
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=Console(stderr=True)) as bar:
            task = bar.add_task(describe(), total=None)

            def tick() -> None:
                count[0] += 1
                if count[0] % 512 == 0:
                    bar.update(task, description=describe())

            yield tick
            bar.update(task, description=describe())
