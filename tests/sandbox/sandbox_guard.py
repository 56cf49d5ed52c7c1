"""A cap around the test process while hostile programs run, so a broken sandbox fails a test
instead of taking the machine down: this process (and every worker it starts afterwards) moves
into a fresh cgroup v1 with a pids cap, nested under the one it is in, and back out afterwards.
A memory cap is added only when this process sits in the root memory cgroup: a memory cgroup
someone else set up for us (a CI runner, a session manager) is theirs to manage, not ours."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest

from selfalign.sandbox import isolation

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _current(controller: str) -> Path | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return CGROUP_ROOT / controller / path.lstrip("/")
    return None


@contextlib.contextmanager
def host_guard(pids_max: int = 300, memory_mb: int = 6144):
    """Yield the list of caps that are in force (empty when cgroups v1 are not writable here)."""
    moved: list[tuple[Path, Path]] = []
    for controller, knob, value in (("pids", "pids.max", pids_max),
                                    ("memory", "memory.limit_in_bytes", memory_mb << 20)):
        home = _current(controller)
        if home is None or (controller == "memory" and home != CGROUP_ROOT / "memory"):
            continue
        cage = home / f"selfalign-sandbox-test-{os.getpid()}"
        try:
            cage.mkdir(exist_ok=True)
            (cage / knob).write_text(str(value))
            (cage / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            with contextlib.suppress(OSError):
                cage.rmdir()
            continue
        moved.append((home, cage))
    try:
        yield [str(cage) for _, cage in moved]
    finally:
        for home, cage in moved:
            with contextlib.suppress(OSError):
                (home / "cgroup.procs").write_text(str(os.getpid()))
            for _ in range(50):  # workers just killed may take a moment to leave the cage
                try:
                    cage.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


ROOT_LEVEL, USER_LEVEL = "bwrap+seccomp+uid", "bwrap+userns+seccomp"


def missing(why: str) -> None:
    """Skip, saying why; in CI (SELFALIGN_REQUIRE_ISOLATION=1, which installs bubblewrap itself)
    a missing isolation level is a failure instead."""
    if os.environ.get("SELFALIGN_REQUIRE_ISOLATION") == "1":
        pytest.fail(f"SELFALIGN_REQUIRE_ISOLATION=1 but {why}")
    pytest.skip(why)


def require_isolation() -> str:
    """The bubblewrap level Sandbox() gets in this process: hostile programs run only under one."""
    try:
        return isolation.resolve("auto")
    except isolation.IsolationUnavailable as exc:
        missing(f"hostile programs need bubblewrap isolation here: {exc}")
