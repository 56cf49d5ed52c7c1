"""The seeds stage: sources -> extraction + cheap filters (parallel) -> exact dedup ->
decontamination -> type check (batched) -> MinHash near-dedup (global) -> model judge.

Expensive steps run last, on what the cheap ones kept. Extraction and the per-function filters
run in a process pool over batches of files (parsing is CPU-bound and files are independent);
everything after needs the whole set (dedup is global) and runs in this process through
``selfalign.quality.filters.run_filters``, so candidates are held in memory between phases:
about 1 KB each, a few hundred MB at The Stack's 5M functions. The filter list is built once
from the config; a switched-off step is simply not in it.
The trade-off: no output until extraction is done, in exchange for simple, order-stable results
(the same corpus always yields the same seeds in the same order).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from typing import Any, Iterator

from selfalign.progress import progress as progress_bar
from selfalign.quality import decontam
from selfalign.quality.minhash import MinHashParams, Sketcher
from selfalign.quality.filters import Decontaminate, ExactDedup, Filter, NearDedup, run_filters
from selfalign.records import Dropped, Seed

from .config import DEFAULT_BENCHMARKS, SeedsConfig
from .extract import Candidate, extract
from .filters import cheap_filters
from .sources import SourceFile, iter_sources
from .typecheck import TypeCheck

log = logging.getLogger(__name__)
_FILE_BATCH = 256


def mine_seeds(cfg: SeedsConfig, llm: Any | None = None, progress: bool = True,
               decontamination: dict[str, Any] | None = None,
               sketcher: Sketcher | None = None) -> Iterator[Seed | Dropped]:
    """Mine seeds from ``cfg.sources``: yields every ``Dropped`` (with its reason) and then the
    kept ``Seed`` records in corpus order. ``decontamination``, when given, is filled with what
    the seeds were decontaminated against (``BenchmarkReport.summary``; empty when off).
    ``sketcher``: where near-dedup's MinHash signatures are computed (default: this process)."""
    if cfg.judge and llm is None:
        raise ValueError("seeds.judge is on but no model was given; pass llm= or set seeds.judge = false")
    filters = global_filters(cfg, llm, sketcher)
    if decontamination is not None:
        for f in filters:
            if isinstance(f, Decontaminate):
                decontamination.update(f.index.report.summary())
    candidates: list[Candidate] = []
    with _phase("extract + filter", None, progress) as advance:
        for item in _extracted(cfg):
            if isinstance(item, Dropped):
                yield item
            else:
                candidates.append(item)
            advance(1)
    kept: list[Candidate] = []
    for c, drop in run_filters(candidates, filters, lambda name, total: _phase(name, total, progress)):
        if drop is None:
            kept.append(c)
        else:
            yield Dropped(drop.reason, c.describe(), drop.detail)
    for c in kept[: cfg.limit or None]:
        yield Seed(content=c.content, name=c.name, source=c.source, path=c.path,
                   start_line=c.start_line, end_line=c.end_line, license=c.license, meta=c.meta)


def _phase(name: str, total: int | None, enabled: bool):
    return progress_bar(f"seeds: {name}", total, enabled=enabled)


def global_filters(cfg: SeedsConfig, llm: Any | None = None,
                   sketcher: Sketcher | None = None) -> list[Filter[Candidate]]:
    """The enabled whole-set steps, cheapest first: exact dedup, decontamination, type check,
    near-dedup, judge."""
    filters: list[Filter[Candidate]] = []
    if cfg.exact_dedup:
        filters.append(ExactDedup())
    if cfg.decontaminate:
        # The default list means "every benchmark there is here": a missing one is no news.
        index = decontam.build(cfg.benchmarks, cfg.benchmark_dir, cfg.benchmark_files,
                               cfg.decontam_ngram, cfg.decontam_overlap,
                               warn_missing=cfg.benchmarks != DEFAULT_BENCHMARKS)
        log.info("decontaminating against %d benchmark texts", len(index))
        filters.append(Decontaminate(index))
    if cfg.typecheck:
        filters.append(TypeCheck(cfg.typecheck_batch))
    if cfg.near_dedup:
        params = MinHashParams(cfg.num_perm, cfg.shingle_size, cfg.near_dedup_threshold, cfg.seed)
        filters.append(NearDedup(params, sketcher))
    if cfg.judge:
        from .judge import SelfJudge   # loads the LLM interface only when a model is asked

        filters.append(SelfJudge(llm, cfg.judge_samples, cfg.judge_temperature, cfg.seed, cfg.judge_batch))
    return filters


def process_file(file: SourceFile, include_methods: bool,
                 filters: list[Filter[Candidate]]) -> list[Candidate | Dropped]:
    """One file's candidates and drops, in the order the extractor found them."""
    items = list(extract(file, include_methods))
    decided = iter(run_filters([i for i in items if isinstance(i, Candidate)], filters))
    out: list[Candidate | Dropped] = []
    for item in items:
        if isinstance(item, Candidate):
            item, drop = next(decided)
            if drop is not None:
                item = Dropped(drop.reason, item.describe(), drop.detail)
        out.append(item)
    return out


_WORKER: tuple[bool, list[Filter[Candidate]]] | None = None


def _init_worker(include_methods: bool, filters: list[Filter[Candidate]]) -> None:
    global _WORKER
    _WORKER = (include_methods, filters)


def _worker(file: SourceFile) -> list[Candidate | Dropped]:
    assert _WORKER is not None
    return process_file(file, *_WORKER)


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
    filters = cheap_filters(cfg)
    pool = multiprocessing.get_context("fork").Pool(workers, _init_worker, (cfg.include_methods, filters)) \
        if workers > 1 else None
    try:
        for batch in _batches(cfg):
            files = [f for f in batch if isinstance(f, SourceFile)]
            yield from (d for d in batch if isinstance(d, Dropped))
            results = pool.imap(_worker, files, chunksize=4) if pool else \
                (process_file(f, cfg.include_methods, filters) for f in files)
            for result in results:
                yield from result
    finally:
        if pool:
            pool.terminate()
            pool.join()
