"""Corpus readers: turn each configured source into a stream of Python files.

A source is a directory tree, a git repository (``PATH`` for the working tree, ``PATH@REV`` for
a revision read straight from the object store), a JSONL/Parquet table with a text column (The
Stack's layout), a ``datasets`` dataset saved to disk, or ``hf:NAME`` on the hub. Tables are read
in batches and hub datasets streamed, so no source is ever loaded whole.

The trade-off: readers yield raw bytes and leave decoding to extraction, so a bad file becomes a
counted ``Dropped`` there instead of an exception here; only a source that cannot be opened at
all (missing path, unreadable table) raises, with the source named.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from selfalign.records import Dropped

from .config import SeedsConfig

_DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
_LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING", "NOTICE")


class SourceError(ValueError):
    """A configured source that cannot be read at all."""


@dataclass
class SourceFile:
    source: str
    path: str
    data: bytes
    license: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def iter_sources(cfg: SeedsConfig) -> Iterator[SourceFile | Dropped]:
    for spec in cfg.sources:
        yield from iter_source(spec, cfg)


def iter_source(spec: str, cfg: SeedsConfig) -> Iterator[SourceFile | Dropped]:
    if spec.startswith("hf:"):
        return _iter_hf(spec, cfg)
    path_part, _, rev = spec.partition("@") if not os.path.exists(spec) else (spec, "", "")
    path = Path(path_part)
    if rev:
        return _iter_git_revision(path, rev, spec, cfg)
    if path.is_dir() and any((path / name).exists() for name in _DATASET_MARKERS):
        return _iter_saved_dataset(path, spec, cfg)
    if path.is_dir():
        return _iter_directory(path, spec, cfg)
    if path.is_file() and path.name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")):
        return _iter_jsonl(path, spec, cfg)
    if path.is_file() and path.suffix == ".parquet":
        return _iter_parquet(path, spec, cfg)
    if path.is_file() and path.suffix == ".py":
        return iter([_read_file(path, path.name, spec, cfg, None)])
    raise SourceError(f"seeds source {spec!r}: not a directory, .py, .jsonl, .parquet, "
                      f"saved dataset, PATH@REVISION or hf:NAME")


def _guess_license(root: Path) -> str | None:
    """The first line of a LICENSE-like file at the corpus root, if any (the license's title)."""
    for name in _LICENSE_FILES:
        candidate = root / name
        if candidate.is_file():
            for line in candidate.read_text(errors="replace").splitlines():
                if line.strip():
                    return line.strip()[:100]
    return None


def _read_file(path: Path, rel: str, spec: str, cfg: SeedsConfig, license: str | None) -> SourceFile | Dropped:
    try:
        size = path.stat().st_size
        if size > cfg.max_file_bytes:
            return Dropped("file:too_large", {"source": spec, "path": rel}, f"{size} bytes")
        return SourceFile(spec, rel, path.read_bytes(), license)
    except OSError as exc:
        return Dropped("file:unreadable", {"source": spec, "path": rel}, str(exc))


def _iter_directory(root: Path, spec: str, cfg: SeedsConfig) -> Iterator[SourceFile | Dropped]:
    license = _guess_license(root)
    for dirpath, dirnames, filenames in os.walk(root):
        # Sorted walk, hidden and cache folders skipped: same order (and seed ids) on every machine.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                full = Path(dirpath) / name
                yield _read_file(full, full.relative_to(root).as_posix(), spec, cfg, license)


def _iter_git_revision(repo: Path, rev: str, spec: str, cfg: SeedsConfig) -> Iterator[SourceFile | Dropped]:
    """Read .py blobs of a revision with one ``git cat-file --batch`` process (no checkout)."""
    try:
        listing = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "-l", "-z", rev],
                                 capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or str(exc).encode()
        raise SourceError(f"seeds source {spec!r}: git cannot list {rev!r}: "
                          f"{detail.decode(errors='replace').strip()}") from None
    entries = []
    for item in listing.split(b"\0"):
        if not item:
            continue
        meta, _, name = item.partition(b"\t")
        _mode, kind, sha, size = meta.split()
        if kind == b"blob" and name.endswith(b".py"):
            entries.append((name.decode(errors="replace"), sha.decode(), int(size)))
    yield from _cat_blobs(repo, entries, spec, cfg)


def _cat_blobs(repo: Path, entries: list[tuple[str, str, int]], spec: str,
               cfg: SeedsConfig) -> Iterator[SourceFile | Dropped]:
    proc = subprocess.Popen(["git", "-C", str(repo), "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin and proc.stdout
    try:
        for name, sha, size in entries:
            if size > cfg.max_file_bytes:
                yield Dropped("file:too_large", {"source": spec, "path": name}, f"{size} bytes")
                continue
            proc.stdin.write(sha.encode() + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)  # the newline after each object
            yield SourceFile(spec, name, data, None, {"revision": spec.rpartition("@")[2]})
    finally:
        proc.stdin.close()
        proc.wait()


def _row_file(row: dict[str, Any], index: int, spec: str, cfg: SeedsConfig) -> SourceFile | Dropped:
    """One table row -> a file; the non-text columns go to the seed's provenance."""
    text = row.get(cfg.text_column)
    path = str(row.get(cfg.path_column) or f"row {index}")
    if not isinstance(text, str):
        return Dropped("file:no_text", {"source": spec, "path": path},
                       f"column {cfg.text_column!r} missing or not a string")
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > cfg.max_file_bytes:
        return Dropped("file:too_large", {"source": spec, "path": path}, f"{len(data)} bytes")
    license = row.get(cfg.license_column)
    if isinstance(license, list):
        license = ", ".join(map(str, license)) or None
    extra = {k: v for k, v in row.items() if k not in (cfg.text_column, cfg.path_column, cfg.license_column)
             and isinstance(v, (str, int, float, bool)) and len(str(v)) < 300}
    return SourceFile(spec, path, data, str(license) if license else None, extra)


def _iter_jsonl(path: Path, spec: str, cfg: SeedsConfig) -> Iterator[SourceFile | Dropped]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        for index, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield Dropped("file:bad_row", {"source": spec, "path": f"line {index + 1}"}, str(exc)[:200])
                continue
            if not isinstance(row, dict):
                yield Dropped("file:bad_row", {"source": spec, "path": f"line {index + 1}"}, "not an object")
                continue
            yield _row_file(row, index, spec, cfg)


def _iter_parquet(path: Path, spec: str, cfg: SeedsConfig) -> Iterator[SourceFile | Dropped]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise SourceError(f"seeds source {spec!r}: cannot read Parquet: {exc}") from None
    names = set(table.schema_arrow.names)
    if cfg.text_column not in names:
        raise SourceError(f"seeds source {spec!r}: no column {cfg.text_column!r} "
                          f"(columns: {', '.join(sorted(names))}); set seeds.text_column")
    index = 0
    for batch in table.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            yield _row_file(row, index, spec, cfg)
            index += 1


def _datasets_module(spec: str) -> Any:
    try:
        import datasets
    except ImportError:
        raise SourceError(f"seeds source {spec!r} needs the `datasets` package: pip install datasets") from None
    return datasets


def _iter_saved_dataset(path: Path, spec: str, cfg: SeedsConfig) -> Iterator[SourceFile | Dropped]:
    datasets = _datasets_module(spec)
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        loaded = loaded[cfg.hf_split]
    # to_iterable_dataset reads the Arrow files lazily: no copy of the whole table in memory.
    for index, row in enumerate(loaded.to_iterable_dataset()):
        yield _row_file(row, index, spec, cfg)


def _iter_hf(spec: str, cfg: SeedsConfig) -> Iterator[SourceFile | Dropped]:
    datasets = _datasets_module(spec)
    name, _, config_name = spec[3:].partition(":")
    try:
        stream = datasets.load_dataset(name, config_name or None, split=cfg.hf_split, streaming=True)
    except Exception as exc:  # network, auth and missing-dataset errors all land here
        raise SourceError(f"seeds source {spec!r}: cannot stream from the hub ({exc}); "
                          f"download it elsewhere and pass a local Parquet/JSONL path") from None
    for index, row in enumerate(stream):
        yield _row_file(row, index, spec, cfg)
