"""Files of records: JSONL with a version header, Parquet copies, and atomic writes.

Every stage file starts with one header line ``{"format": "selfalign", "kind": ..., "version": 2}``
so a reader knows what it holds and a future format change is detected, not misread. Whole files
are written to a temporary name and renamed into place, so a reader (or a resumed run) never sees
half a file. Reading is strict and names the file, line and field of the first bad row.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from selfalign.records import RECORD_TYPES, Record, RecordError

FORMAT = "selfalign"
VERSION = 2  # 2: typed lineage ids (seed_id, instruction_id, response_id) on records


class InputError(ValueError):
    """A file the user gave (or a run file) that cannot be read as records."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Files this process creates get the permissions any other file of the user gets (0666 less the
# umask), not mkstemp's private 0600: a run's outputs and an exported experiment are for sharing.
FILE_MODE = 0o666 & ~_umask()


def _temp_beside(path: Path) -> tuple[int, str]:
    """An open temp file in ``path``'s directory, to be renamed onto ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, FILE_MODE)
    return fd, tmp


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AtomicJsonl:
    """Write JSON lines to ``path`` through a temp file that is renamed into place on ``commit``."""

    def __init__(self, path: str | Path, header: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = _temp_beside(self.path)
        self._fh = os.fdopen(fd, "w", encoding="utf-8")
        self.count = 0
        if header is not None:
            self._fh.write(json.dumps(header) + "\n")

    def write(self, row: dict[str, Any]) -> None:
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.count += 1

    def commit(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        Path(self._tmp).unlink(missing_ok=True)

    def __enter__(self) -> "AtomicJsonl":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.commit() if exc_type is None else self.abort()


def header(kind: str) -> dict[str, Any]:
    return {"format": FORMAT, "kind": kind, "version": VERSION}


def write_records(path: str | Path, kind: str, rows: Iterable[dict[str, Any]]) -> int:
    with AtomicJsonl(path, header(kind)) as out:
        for row in rows:
            out.write(row)
    return out.count


def is_header(row: Any) -> bool:
    """Whether a parsed line is a stage file's header line (see ``header``)."""
    return isinstance(row, dict) and row.get("format") == FORMAT and "kind" in row


def file_header(path: str | Path) -> dict[str, Any] | None:
    """The header of a JSONL stage file, or None when its first non-blank line is not one."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    row = json_line(line)
                except ValueError:
                    return None
                return row if is_header(row) else None
    return None


def json_line(line: str) -> Any:
    """One line of a JSONL file as a value. A bad line raises ValueError naming the column of
    that line: the newline is cut first, or a line that stops short would be blamed on
    "column 1" of the next line instead of its own end."""
    try:
        return json.loads(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-empty line of a .jsonl or .jsonl.gz file; a bad line
    raises InputError naming the file and line."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        fh = opener(path, "rt", encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json_line(line)
                except ValueError as exc:
                    raise InputError(f"{path}:{lineno}: {exc}") from None
                yield lineno, row
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except (OSError, EOFError) as exc:  # a truncated or corrupt .gz
            raise InputError(f"{path}: cannot be read ({exc})") from None


def read_records(path: str | Path, kind: str) -> Iterator[Record]:
    """Records of ``kind`` from a stage file (JSONL with header, or Parquet)."""
    path = Path(path)
    cls = RECORD_TYPES[kind]
    rows = _iter_parquet(path) if path.suffix == ".parquet" else _checked_jsonl(path, kind)
    for lineno, row in rows:
        try:
            yield cls.from_dict(row)
        except (RecordError, TypeError) as exc:
            raise InputError(f"{path}:{lineno}: {exc}") from None


def _checked_jsonl(path: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    rows = iter_jsonl(path)
    for lineno, row in rows:
        if is_header(row):
            if row["kind"] != kind:
                raise InputError(f"{path}:{lineno}: holds {row['kind']!r} records, expected {kind!r}")
            if row.get("version") != VERSION:
                raise InputError(f"{path}:{lineno}: format version {row.get('version')!r}, "
                                 f"this selfalign reads version {VERSION}")
            continue
        yield lineno, row


def count_rows(path: str | Path) -> int:
    """Data rows of a JSONL stage file (header excluded), counted without parsing."""
    with Path(path).open("rb") as fh:
        n = sum(1 for line in fh if line.strip())
    return max(0, n - 1)


# Parquet: dict values go in as JSON text (named in the schema metadata) so the schema stays flat.
def write_parquet(path: str | Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    json_columns = sorted({k for row in rows for k, v in row.items() if isinstance(v, dict)})
    flat = [{k: json.dumps(v) if k in json_columns else v for k, v in row.items()} for row in rows]
    table = pa.Table.from_pylist(flat)
    meta = {**header("rows"), "json_columns": json_columns}
    table = table.replace_schema_metadata({"selfalign": json.dumps(meta)})
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _iter_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    meta = json.loads((table.schema.metadata or {}).get(b"selfalign", b"{}"))
    json_columns = set(meta.get("json_columns", []))
    for i, row in enumerate(table.to_pylist(), 1):
        yield i, {k: json.loads(v) if k in json_columns and v is not None else v for k, v in row.items()}
