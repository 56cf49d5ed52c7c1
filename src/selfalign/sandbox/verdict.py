"""What goes into the sandbox (Limits, Program) and what comes out (ExecResult).

These are plain dataclasses so the pipeline's execute stage and the evaluation code can build and
read them without importing anything heavy. Trade-off: the result is a flat record (a status
string plus numbers and bounded text tails) rather than a rich exception object, so it can be
written to JSONL and cached in SQLite as is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

STATUSES = ("pass", "fail", "timeout", "memory", "crash", "blocked")
CACHE_VERSION = "selfalign-sandbox v2"  # bump when a verdict for the same program could change
# v2: kill(-1)/kill(1), namespace syscalls and SysV/POSIX IPC are refused by the seccomp filter


@dataclass(frozen=True)
class Limits:
    timeout_s: float = field(default=10.0, metadata={"help": "wall-clock limit per program, seconds"})
    memory_mb: int = field(default=4096, metadata={"help": "address-space cap per program (RLIMIT_AS), MiB"})
    file_size_mb: int = field(default=64, metadata={"help": "largest file a program may write, MiB"})
    max_open_files: int = field(default=256, metadata={"help": "open file descriptors per program"})
    max_processes: int = field(default=32, metadata={"help": "processes + threads per program"})
    output_tail_bytes: int = field(default=4096, metadata={"help": "bytes of stdout/stderr tails kept"})

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"Limits.{f.name} must be > 0, got {getattr(self, f.name)!r}")

    def to_dict(self) -> dict:
        """The fields as a plain dict (all scalars: dataclasses.asdict's deep copy cost the host
        ~0.1 ms per program, measured)."""
        return dict(vars(self))


@dataclass(frozen=True)
class Program:
    id: str = field(metadata={"help": "the caller's key, echoed back"})
    code: str = field(metadata={"help": "the solution"})
    tests: str = field(default="", metadata={"help": "run after code, in the same program"})
    timeout_s: float | None = field(default=None, metadata={"help": "overrides Limits.timeout_s"})


@dataclass
class ExecResult:
    status: str
    exit_code: int | None
    wall_s: float
    cpu_s: float
    peak_mb: float
    error_type: str | None
    error: str | None
    stdout_tail: str
    stderr_tail: str
    isolation: str
    cached: bool = False

    def to_dict(self) -> dict:
        """The `exec` object of the CLI's output rows (without `cached`, which is per run)."""
        row = dataclasses.asdict(self)
        row.pop("cached")
        return row

    @classmethod
    def from_dict(cls, row: dict, cached: bool = False) -> "ExecResult":
        names = {f.name for f in dataclasses.fields(cls)} - {"cached"}
        return cls(**{k: row.get(k) for k in names}, cached=cached)


def effective_timeout(program: Program, limits: Limits) -> float:
    return float(program.timeout_s if program.timeout_s is not None else limits.timeout_s)


def cache_key(program: Program, limits: Limits, isolation: str) -> str:
    """Content hash of everything that decides the verdict: code, tests, limits, isolation."""
    parts = [CACHE_VERSION, program.code, program.tests, effective_timeout(program, limits),
             limits.to_dict(), isolation]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
