"""LiveCodeBench code generation (``code_generation_lite``) from its released jsonl files.

Upstream stores ``private_test_cases`` as base64(zlib(pickle(json text))). Unpickling runs code
chosen by whoever wrote the file, so we decode with an unpickler that refuses every global: a
pickled ``str`` needs none, and anything else (the only way pickle can call code) is rejected
with an error. The ``start``/``end`` date window keeps problems released after a model's
training cut-off, which is the point of LiveCodeBench.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from selfalign.benchmarks.problem import BenchmarkError, IOCase, Problem, need, read_jsonl, resolve

LCB_FILES = ("test.jsonl", "livecodebench.jsonl", "code_generation_lite.jsonl")


class _NoGlobalsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def decode_test_cases(text: str, where: str) -> list[IOCase]:
    """Plain JSON (public tests) or base64+zlib+pickle JSON (private tests), without globals."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        try:
            blob = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
            inner = _NoGlobalsUnpickler(io.BytesIO(blob)).load()
            raw = json.loads(inner) if isinstance(inner, (str, bytes)) else inner
        except (ValueError, zlib.error, pickle.UnpicklingError, EOFError) as exc:
            raise BenchmarkError(f"{where}: cannot decode test cases: {exc}") from None
    if not isinstance(raw, list):
        raise BenchmarkError(f"{where}: test cases should be a list, got {type(raw).__name__}")
    cases = []
    for i, case in enumerate(raw):
        if not isinstance(case, dict):
            raise BenchmarkError(f"{where}[{i}]: a test case should be an object")
        cases.append(IOCase(input=need(case, "input", f"{where}[{i}]"),
                            output=need(case, "output", f"{where}[{i}]"),
                            kind=case.get("testtype", "stdin")))
    return cases


def _day(value: str | date | None, where: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        raise BenchmarkError(f"{where}: bad date {value!r}; use YYYY-MM-DD") from None


def _problem(row: dict[str, Any], where: str) -> Problem:
    metadata = row.get("metadata") or "{}"
    metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
    public = decode_test_cases(need(row, "public_test_cases", where), f"{where} public_test_cases")
    private = decode_test_cases(row.get("private_test_cases") or "[]", f"{where} private_test_cases")
    return Problem(
        benchmark="livecodebench", task_id=need(row, "question_id", where),
        prompt=need(row, "question_content", where), entry_point=metadata.get("func_name", ""),
        test_cases=public + private,
        meta={"title": row.get("question_title", ""), "platform": row.get("platform", ""),
              "contest_date": need(row, "contest_date", where), "difficulty": row.get("difficulty", ""),
              "starter_code": row.get("starter_code", ""), "public_tests": len(public)})


def load_livecodebench(path: str | None = None, start: str | date | None = None,
                       end: str | date | None = None) -> tuple[list[Problem], Path]:
    """Problems whose contest date lies in [start, end] (either bound optional)."""
    files = shard_files(path)
    low, high = _day(start, "livecodebench start"), _day(end, "livecodebench end")
    problems = []
    for file, lineno, row in ((f, n, r) for f in files for n, r in read_jsonl(f)):
        where = f"{file}:{lineno}"
        day = _day(need(row, "contest_date", where), where)
        if (low and day < low) or (high and day > high):
            continue
        problems.append(_problem(row, where))
    return problems, files[0]


def shard_files(path: str | None) -> list[Path]:
    """One jsonl file, or every upstream shard (test.jsonl, test2.jsonl ...) in a directory."""
    if path is not None and Path(path).is_dir():
        shards = sorted(Path(path).glob("test*.jsonl"), key=lambda p: (len(p.name), p.name))
        if shards:
            return shards
    return [resolve(path, LCB_FILES, "livecodebench")]
