"""Fingerprints: which weights a backend generates with, so a cache or a sample file can tell two
models at the same path apart.

A GGUF file is fingerprinted by its size, its modification time and a hash of its header (the
metadata and the tensor index: names, shapes, types, offsets); a Hugging Face directory by the
hashes of its small files (config, tokenizer, weight index) and the size, modification time and
first MiB of each large one (the weights); a hub id by the local snapshot it resolves to.

Trade-off: the weights themselves are not read. Hashing them costs about a second per GB; the
header costs milliseconds whatever the model's size. A model re-exported to the same path (what
training does) gets a new modification time, so it gets a new fingerprint; the one way to fool
it is a different file with the same header, the same size and the same mtime to the nanosecond
(``touch -r``). A copy that does not keep the mtime is taken as a new model: a cache miss, never a
stale hit.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
from pathlib import Path
from typing import Any

from selfalign.llm.base import LLMError

# A file this small is hashed whole; a larger one (weights) by size, mtime and its first MiB.
SMALL_FILE = 32 << 20
HEAD_BYTES = 1 << 20

_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}   # GGUF value types
_STRING, _ARRAY = 8, 9


def digest(parts: Any, kind: str) -> str:
    """``kind:`` + 16 hex digits of the sha256 of ``parts`` as canonical JSON."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return f"{kind}:{hashlib.sha256(blob).hexdigest()[:16]}"


def gguf_header_size(path: str | os.PathLike[str]) -> int:
    """Bytes from the start of a GGUF file to the end of its tensor index (v2 and v3)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < 24 or handle.read(4) != b"GGUF":
            raise LLMError(f"{path} is not a GGUF file (no GGUF magic)")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            try:
                return _walk_header(data)
            except (struct.error, IndexError, ValueError) as exc:
                raise LLMError(f"{path}: unreadable GGUF header ({exc})") from None


def _walk_header(data: mmap.mmap) -> int:
    version, tensors, kvs = struct.unpack_from("<IQQ", data, 4)
    if version < 2:
        raise ValueError(f"GGUF version {version} is not supported (v2 or later)")
    pos = 24
    for _ in range(kvs):
        pos = _skip_string(data, pos)
        (kind,) = struct.unpack_from("<I", data, pos)
        pos = _skip_value(data, pos + 4, kind)
    for _ in range(tensors):
        pos = _skip_string(data, pos)
        (dims,) = struct.unpack_from("<I", data, pos)
        pos += 4 + 8 * dims + 4 + 8            # dims, type, offset
    if pos > len(data):
        raise ValueError("the tensor index runs past the end of the file")
    return pos


def _skip_string(data: mmap.mmap, pos: int) -> int:
    (length,) = struct.unpack_from("<Q", data, pos)
    return pos + 8 + length


def _skip_value(data: mmap.mmap, pos: int, kind: int) -> int:
    if kind in _SCALAR:
        return pos + _SCALAR[kind]
    if kind == _STRING:
        return _skip_string(data, pos)
    if kind == _ARRAY:
        item, count = struct.unpack_from("<IQ", data, pos)
        pos += 12
        if item in _SCALAR:
            return pos + count * _SCALAR[item]
        for _ in range(count):
            pos = _skip_value(data, pos, item)
        return pos
    raise ValueError(f"unknown GGUF value type {kind} at byte {pos}")


def gguf_fingerprint(path: str | os.PathLike[str]) -> str:
    """Size + mtime + sha256 of the header and tensor index of one GGUF file (not its path)."""
    end = gguf_header_size(path)
    with open(path, "rb") as handle:
        header = hashlib.sha256(handle.read(end)).hexdigest()
    stat = os.stat(path)
    return digest({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "header": header}, "gguf")


def _file_entry(path: Path) -> dict[str, Any]:
    stat = path.stat()
    with open(path, "rb") as handle:
        if stat.st_size <= SMALL_FILE:
            return {"sha256": hashlib.file_digest(handle, "sha256").hexdigest()}
        head = hashlib.sha256(handle.read(HEAD_BYTES)).hexdigest()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head": head}


def directory_fingerprint(path: str | os.PathLike[str]) -> str:
    """Every top-level file of a model directory: small ones by content, large ones by size,
    mtime and first MiB. Hidden files and subdirectories are not part of a model."""
    root = Path(path)
    files = {p.name: _file_entry(p) for p in sorted(root.iterdir())
             if p.is_file() and not p.name.startswith(".")}
    if not files:
        raise LLMError(f"model directory {root} has no files to fingerprint")
    return digest(files, "dir")


def hub_snapshot(repo_id: str, filename: str = "config.json") -> Path | None:
    """The local snapshot directory a hub id resolves to, if it is in the Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id, filename)
    except ValueError:          # not a valid repo id
        return None
    return Path(found).parent if isinstance(found, str) else None


def model_fingerprint(model: str, gguf_file: str | None = None) -> str:
    """A GGUF file, a model directory (or a GGUF file inside it), or a hub id."""
    path = Path(model).expanduser()
    if path.is_file():
        return gguf_fingerprint(path)
    if path.is_dir():
        return gguf_fingerprint(path / gguf_file) if gguf_file else directory_fingerprint(path)
    snapshot = hub_snapshot(model, gguf_file or "config.json")
    if snapshot is None:
        # Not downloaded (or no huggingface_hub): the id alone, which a hub update would not change.
        return digest({"hub": model, "file": gguf_file}, "hub")
    if gguf_file:
        return gguf_fingerprint(snapshot / gguf_file)
    return digest({"hub": model, "snapshot": snapshot.name,
                   "files": directory_fingerprint(snapshot)}, "hub")
