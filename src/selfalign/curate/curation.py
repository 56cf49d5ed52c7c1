"""Curation: executed responses in, SFT examples out, every other row dropped with its reason.

One implementation for the pipeline's curate stage (``curate_verdicts``) and the ``selfalign
curate`` command (``Curation.run`` over input rows). Six passes:

1. read: each row is checked as it streams in -- verdict, instruction length, placeholders,
   tests (``tests_strength``), decontamination -- and a row that can never be chosen is dropped
   at once; the others wait in a spool file on disk;
2. runs: rows that lack a verdict of their collected tests or a stub verdict get them from the
   sandbox, in one batch (none without a sandbox: the report counts passes left unchecked);
   then each row is settled as a candidate of the policy, a real pass, both or neither;
3. instructions: exact and MinHash dedup over the instructions that still have rows, sorted
   by instruction id;
4. select: one candidate per instruction under the policy and preference (``select``);
5. answers: exact dedup of the training responses, MinHash dedup of the code (keeping diverse
   function names) and optionally of the responses;
6. emit: the drops of the spooled rows, then the examples sorted by instruction id, sanitized
   (tests stripped, asserts appended to the instruction with probability ``augment_p``).

The trade-off: memory holds a few numbers per row, an id string (``rowtable``, which also keeps
the drop reasons and the candidate rule), and one MinHash signature per instruction and per
chosen answer (numpy); the rows themselves stay on disk and are read back by offset, so 100,000
rows cost tens of MB. The result does not depend on input order.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, ContextManager, Iterable, Iterator, Mapping

import numpy as np

from selfalign.curate import sanitize
from selfalign.curate.config import CurateConfig
from selfalign.curate.instructions import InstructionTable
from selfalign.curate.neardup import SignatureStore, function_name, keep_diverse, keep_first, near_pairs
from selfalign.curate.report import CurationReport, DecontamHit
from selfalign.curate.rows import RowError, check_row, row_from_verdict
from selfalign.curate.rowtable import RowTable
from selfalign.curate.select import Candidate, choose
from selfalign.curate.spool import Spool, text_key
from selfalign.curate.stubcheck import (STUB, is_collected, missing_programs, paired, stub_status,
                                        stub_summary, verdict_exec)
from selfalign.curate.tests_strength import analyze, weakness
from selfalign.quality.minhash import LOCAL, MinHashParams, Sketcher
from selfalign.records import Dropped, Example, Verdict
from selfalign.seeds.config import DEFAULT_BENCHMARKS

log = logging.getLogger(__name__)
# (label, total) -> a context yielding advance(n), like selfalign.progress.progress
Progress = Callable[[str, "int | None"], ContextManager[Callable[[int], None]]]
SIG_CHUNK = 2000   # texts per signature batch
TRAIN = "_train"   # the training response, computed once in pass 1 and spooled with the row


class Curation:
    """One curation run: ``run(rows)`` yields Examples and Dropped; ``report`` fills up meanwhile.

    ``sandbox`` (optional) runs missing verdicts of collected tests and stub verdicts;
    ``index`` (optional) is a prebuilt ``Decontaminator`` (else built from the config);
    ``seeds`` maps a seed id to its source/path/license for the lineage fields;
    ``sketcher`` computes the MinHash signatures (default: in this process)."""

    def __init__(self, cfg: CurateConfig, seed: int, sandbox: Any = None, index: Any = None,
                 seeds: Mapping[str, Mapping[str, Any]] | None = None, report: CurationReport | None = None,
                 progress: Progress | None = None, sketcher: Sketcher = LOCAL) -> None:
        self.cfg, self.seed, self.sandbox, self.seeds = cfg, seed, sandbox, seeds or {}
        self.sketcher = sketcher
        self.report = report if report is not None else CurationReport()
        self.report.policy, self.report.prefer = cfg.policy, cfg.prefer
        self.index = index if index is not None or not cfg.decontaminate else self._build_index()
        indexed = getattr(self.index, "report", None)
        if indexed is not None:
            self.report.benchmarks = {"texts": dict(indexed.texts), "functions": indexed.functions,
                                      "skipped": dict(indexed.skipped)}
        self.params = MinHashParams(num_perm=cfg.num_perm, shingle_size=cfg.shingle_size,
                                    threshold=cfg.threshold, seed=seed)
        self.progress = progress or _silent
        self.table = RowTable()   # what is kept in memory of the spooled rows, by spool position

    def _build_index(self) -> Any:
        from selfalign.quality import decontam

        cfg = self.cfg
        # The default list means "every benchmark there is here": a missing one is no news.
        return decontam.build(cfg.benchmarks, cfg.benchmark_dir, cfg.benchmark_files,
                              cfg.decontam_ngram, cfg.decontam_overlap,
                              warn_missing=cfg.benchmarks != DEFAULT_BENCHMARKS)

    # ---- the run ------------------------------------------------------------------------------
    def run(self, rows: Iterable[tuple[str, Any]]) -> Iterator[Example | Dropped]:
        """``rows``: (where, row) pairs -- ``where`` (e.g. ``file:line``) names a malformed row; a
        row that could not even be read is passed as the ``RowError`` saying why."""
        self.rows = Spool(self.cfg.spool_dir)
        self.instructions = InstructionTable(self.params, self.cfg.spool_dir, "instruction" in self.cfg.near_dedup,
                                             self.sketcher)
        try:
            for where, raw in rows:
                yield from self._read(where, raw)
            self._runs()
            self.table.settle(self.cfg.policy, self.cfg.stub_check)
            self._dedup_instructions()
            chosen = self._select()
            self._dedup_answers(chosen)
            yield from self._emit(chosen)
        finally:
            self.rows.close()
            self.instructions.close()

    # ---- pass 1: read ---------------------------------------------------------------------------
    def _read(self, where: str, raw: Any) -> Iterator[Dropped]:
        self.report.rows_in += 1
        try:
            if isinstance(raw, RowError):
                raise raw
            row = check_row(raw)
        except RowError as exc:
            self.report.drop("malformed")
            record = raw if isinstance(raw, dict) else {"text": raw.text if isinstance(raw, RowError) else raw}
            yield Dropped("malformed", record, f"{where}: {exc}")
            return
        position = self._instruction(row["instruction_id"], row["instruction"])
        problem = self._problem(row, position)
        if problem is not None:
            self.report.drop(problem[0])
            yield Dropped(problem[0], row, problem[1])

    def _instruction(self, ident: str, text: str) -> int:
        """The instruction's position; its own checks run the first time it is seen."""
        position, new = self.instructions.add(ident, text)
        if not new:
            return position
        words, limit = len(text.split()), self.cfg.max_instruction_words
        if words > limit:
            self.instructions.drop(position, "instruction_too_long", f"{words} words > {limit}")
        elif self.index is not None:
            hit = self._contamination(ident, "instruction", text)
            if hit:
                self.instructions.drop(position, *hit)
        return position

    def _contamination(self, row_id: str, field: str, text: str) -> tuple[str, str] | None:
        hit = self.index.check(text)
        if hit is None:
            return None
        self.report.decontam_hits.append(DecontamHit(row_id, field, hit.reason, hit.benchmark_id, hit.overlap))
        return hit.reason, f"{field}: {hit.benchmark_id} ({hit.overlap:.0%})"

    def _problem(self, row: dict[str, Any], position: int) -> tuple[str, str] | None:
        """Why the row is dropped now, or None after spooling it."""
        cfg, status = self.cfg, row["exec"]["status"]
        already = is_collected(row)
        rerun = self.sandbox is not None and not already
        collected = rerun or already
        if cfg.policy == "passing" and status != "pass" and not rerun:
            return f"exec:{status}", row["exec"].get("error_type") or ""
        if self.instructions.state[position]:
            return self.instructions.state[position], self.instructions.detail[position]
        if cfg.drop_placeholders:
            found = sanitize.placeholder(row["response"], row["code"])
            if found:
                return "placeholder", found
        static, asserts = None, 0
        if cfg.tests_check or cfg.prefer == "most_asserts":
            report = analyze(row["code"], row["tests"], collected)
            asserts, found = report.asserts, weakness(report)
            static = found[0] if found and cfg.tests_check else None
            if static and cfg.policy == "passing":
                return found
        if self.index is not None:
            text = row["response"] if row["code"] in row["response"] else f"{row['response']}\n{row['code']}"
            hit = self._contamination(row["id"], "response", text)
            if hit:
                return hit
        self._spool(row, position, static, asserts, rerun)
        return None

    def _spool(self, row: dict[str, Any], position: int, static: str | None, asserts: int, rerun: bool) -> None:
        train = sanitize.training_response(row["response"], row["instruction"], self.cfg.strip_tests)
        self.rows.add({**row, TRAIN: train})
        want_stub = self.cfg.stub_check and static is None
        missing_stub = want_stub and stub_status(row) is None and (rerun or row["exec"]["status"] == "pass")
        self.table.add(row["id"], position, row["exec"]["status"], static, stub_status(row), len(train), asserts,
                       bool(rerun or (missing_stub and self.sandbox is not None)))
        self.report.stub_unchecked += bool(missing_stub and self.sandbox is None)

    # ---- pass 2: runs ---------------------------------------------------------------------------
    def _runs(self) -> None:
        todo = [s for s in range(len(self.rows)) if self.table.needs_runs[s]]
        if not todo:
            return

        def programs():
            for s in todo:
                row = self.rows.get(s)
                want_stub = self.cfg.stub_check and self.table.static[s] is None
                yield from missing_programs(str(s), row, want_stub, self.cfg.stub_timeout_s)

        with self.progress("curate: sandbox runs", len(todo)) as advance:
            for key, real, stubbed in paired(self.sandbox.run(programs())):
                self._take_runs(int(key), real, stubbed)
                advance(1)

    def _take_runs(self, s: int, real: Any, stubbed: Any) -> None:
        if real is not None:
            self.report.reruns += 1
            self.table.status[s] = real.status
            self.table.exec_updates[s] = verdict_exec(real, stubbed)
        if stubbed is not None:
            self.report.stub_runs += 1
            self.table.stub[s] = stubbed.status
            self.report.stub_passed += stubbed.status == "pass"
            if real is None and stubbed.status == "pass":   # kept to explain the drop
                self.table.exec_updates[s] = {**self.rows.get(s)["exec"], STUB: stub_summary(stubbed)}

    # ---- pass 3: instructions -------------------------------------------------------------------
    def _dedup_instructions(self) -> None:
        instructions = self.instructions
        live = {self.table.instruction[s] for s in range(len(self.rows)) if self.table.alive(s)}
        instructions.dedup(list(live), self.cfg.exact_dedup, "instruction" in self.cfg.near_dedup)
        for s in range(len(self.rows)):
            position = self.table.instruction[s]
            if self.table.alive(s) and instructions.state[position]:
                self.table.drop(s, instructions.state[position], instructions.detail[position])

    # ---- pass 4: select -------------------------------------------------------------------------
    def _select(self) -> list[int]:
        groups: dict[str, list[Candidate]] = {}
        passing_instructions: set[int] = set()
        for s in range(len(self.rows)):
            if not self.table.alive(s):
                continue
            if self.table.passing[s]:
                passing_instructions.add(self.table.instruction[s])
            if self.table.candidate[s]:
                groups.setdefault(self.instructions.ids[self.table.instruction[s]], []).append(
                    Candidate(s, self.table.ids[s], self.table.length[s], self.table.asserts[s]))
        size = None
        if self.cfg.policy != "passing":
            size = self.report.target_size = len(passing_instructions)
        picked = choose(groups, self.cfg.prefer, self.seed, size, self.cfg.policy)
        if size is not None:
            self.report.shortfall = size - len(picked)
        chosen = {c.index for c in picked}
        kept_for: dict[int, str] = {}
        for c in picked:
            kept_for.setdefault(self.table.instruction[c.index], c.id)
        for s in range(len(self.rows)):
            if not self.table.alive(s) or s in chosen:
                continue
            if not self.table.candidate[s]:
                self.table.drop(s, "not_eligible",
                                f"passes; policy {self.cfg.policy} takes failing responses only")
            elif self.table.instruction[s] in kept_for:
                kept = kept_for[self.table.instruction[s]]
                self.table.drop(s, "not_selected", f"one response per instruction ({kept} kept)")
            else:
                self.table.drop(s, "not_selected", f"instruction not drawn for the {self.cfg.policy} ablation "
                                                   f"({size} rows)")
        return sorted(chosen, key=lambda s: (self.instructions.ids[self.table.instruction[s]], self.table.ids[s]))

    # ---- pass 5: answers ------------------------------------------------------------------------
    def _dedup_answers(self, chosen: list[int]) -> None:
        if self.cfg.exact_dedup:
            first: dict[int, int] = {}
            for s in chosen:
                original = first.setdefault(text_key(self._answer(s, "response")), s)
                if original != s:
                    self.table.drop(s, "duplicate_response", f"same as {self.table.ids[original]}")
        for field in ("code", "response"):
            live = [s for s in chosen if self.table.alive(s)]
            if field in self.cfg.near_dedup and len(live) > 1:
                self._near_dedup_answers(field, live)

    def _answer(self, s: int, field: str) -> str:
        """The code, or the training response, of spooled row ``s``."""
        row = self.rows.get(s)
        return row["code"] if field == "code" else row[TRAIN]

    def _near_dedup_answers(self, field: str, live: list[int]) -> None:
        store = SignatureStore(self.params, self.sketcher)
        for start in range(0, len(live), SIG_CHUNK):
            store.add([self._answer(s, field) for s in live[start:start + SIG_CHUNK]])
        pairs = near_pairs(store, np.arange(len(live)), lambda idx: [self._answer(live[i], field) for i in idx])
        if field == "code" and self.cfg.diverse_names:
            result = keep_diverse([function_name(self._answer(s, "code")) for s in live], pairs)
        else:
            result = keep_first(len(live), pairs)
        for position, original in enumerate(result):
            if original >= 0:
                self.table.drop(live[position], f"near_duplicate_{field}",
                                f"near {self.table.ids[live[original]]}")

    # ---- pass 6: emit ---------------------------------------------------------------------------
    def _emit(self, chosen: list[int]) -> Iterator[Example | Dropped]:
        for s, row in enumerate(self.rows):
            reason = self.table.reason[s]
            if reason is not None:
                self.report.drop(reason)
                yield Dropped(reason, self._output_row(s, row), self.table.detail.get(s, ""))
        for s in chosen:
            if self.table.alive(s):
                self.report.kept += 1
                yield self._example(s, self.rows.get(s))
        self.report.instructions = len(self.instructions.ids)

    def _output_row(self, s: int, row: dict[str, Any]) -> dict[str, Any]:
        row = {k: v for k, v in row.items() if k != TRAIN}
        if s in self.table.exec_updates:
            row["exec"] = self.table.exec_updates[s]
        return row

    def _example(self, s: int, row: dict[str, Any]) -> Example:
        cfg = self.cfg
        instruction, appended = row["instruction"].strip(), 0
        if cfg.augment_p > 0:
            asserts = sanitize.passing_asserts(row["code"], row["tests"])
            instruction, appended = sanitize.augment(instruction, asserts, cfg.augment_p, cfg.augment_max,
                                                     f"augment/{self.seed}/{row['id']}")
        self.report.augmented += appended > 0
        self.report.tests_kept += cfg.strip_tests and sanitize.asks_for_tests(row["instruction"])
        seed = self.seeds.get(row.get("seed_id") or "", {})
        meta = {"function": function_name(row["code"]), "asserts": self.table.asserts[s],
                "asserts_appended": appended, "policy": cfg.policy,
                "seed_source": row.get("seed_source") or seed.get("source"),
                "seed_path": row.get("seed_path") or seed.get("path"),
                "seed_license": row.get("seed_license") or seed.get("license")}
        return Example(parent_id=row["id"], seed_id=row.get("seed_id") or "", instruction_id=row["instruction_id"],
                       response_id=row.get("response_id") or row["id"], instruction=instruction,
                       response=row[TRAIN], meta=meta)


@contextlib.contextmanager
def _silent(label: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    yield lambda n=1: None


def curate_rows(rows: Iterable[Any], cfg: CurateConfig, seed: int, sandbox: Any = None, index: Any = None,
                seeds: Mapping[str, Mapping[str, Any]] | None = None, report: CurationReport | None = None,
                sketcher: Sketcher = LOCAL) -> Iterator[Example | Dropped]:
    """Examples and drops from curation rows (``selfalign.curate.rows``); pass ``report`` to
    have it filled in as the rows go (the card reads it)."""
    curation = Curation(cfg, seed, sandbox, index, seeds, report, sketcher=sketcher)
    return curation.run((f"row {i}", row) for i, row in enumerate(rows, 1))


def curate_verdicts(verdicts: Iterable[Verdict], cfg: CurateConfig, seed: int, sandbox: Any = None,
                    index: Any = None, seeds: Mapping[str, Mapping[str, Any]] | None = None,
                    report: CurationReport | None = None,
                    sketcher: Sketcher = LOCAL) -> Iterator[Example | Dropped]:
    """The stage's entry: verdicts as rows (``row_from_verdict``); a drop's record is the row."""
    rows = (row_from_verdict(v, (seeds or {}).get(v.seed_id)) for v in verdicts)
    return curate_rows(rows, cfg, seed, sandbox, index, seeds, report, sketcher)
