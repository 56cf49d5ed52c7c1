"""How a sandbox worker is started: under bubblewrap, or under the documented fallback.

Levels, strongest first (the name is written into every verdict):
- ``bwrap+seccomp+uid``: a bubblewrap worker with private network/pid/ipc/uts namespaces, a
  read-only view of only the system dirs and the Python installation, and a private size-capped
  tmpfs; each child also drops to an unprivileged uid and loads a seccomp filter.
- ``rlimits+seccomp+uid``: no namespaces; each child drops to an unprivileged uid (so it cannot
  write anything root owns or read what others cannot), loads the seccomp filter (no internet
  sockets), and runs under the same rlimits. Needs root; weaker: world-readable files stay visible.
- ``rlimits``: what ``isolation="none"`` gives: rlimits, timeouts and process-group kills only.
  Unsafe for untrusted code; for trusted code or debugging.

Trade-off: the worker is started once per slot (the expensive part: bwrap + interpreter start)
and every program is a fork inside it, so isolation is per worker and separation between programs
is by fork + uid + fresh temp dir rather than a fresh namespace per program.
"""

from __future__ import annotations

import functools
import marshal
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
SANDBOX_SCRIPTS = ("worker.py", "forker.py", "harness.py")  # what runs inside, mounted side by side
SANDBOX_MOUNT = "/sandbox/worker.py"
MODES = ("auto", "bwrap", "rlimits", "none")
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: `apt-get install -y bubblewrap`)"
THREAD_ENV = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
            **THREAD_ENV}
WORKER_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER")


def encode_config(config: dict) -> str:
    """The worker's config as one argv word (marshal: the worker decodes it without imports)."""
    return marshal.dumps(config).hex()


def decode_config(word: str) -> dict:
    return marshal.loads(bytes.fromhex(word))


class IsolationUnavailable(RuntimeError):
    pass


def interpreter() -> str:
    """The Python that runs programs: this environment's, never a pyenv shim (50 ms per start)."""
    return sys.executable


def _python_roots() -> list[str]:
    """Directories the interpreter needs: its prefix (venv) and base prefix, symlinks resolved."""
    roots = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    system = ("/usr", "/etc", "/lib", "/lib64", "/bin", "/sbin")
    keep = {r for r in roots if not any(r == s or r.startswith(s + "/") for s in system)}
    return sorted(k for k in keep if not any(k != o and k.startswith(o + "/") for o in keep))


def _bind_with_parents(path: str, seen: set[str]) -> list[str]:
    """bwrap creates missing parents 0700, which an unprivileged uid cannot cross: make them 0755."""
    args: list[str] = []
    parent = os.path.dirname(path)
    chain = []
    while parent not in ("/", ""):
        chain.append(parent)
        parent = os.path.dirname(parent)
    for d in reversed(chain):
        if d not in seen:
            seen.add(d)
            args += ["--perms", "0755", "--dir", d]
    return args + ["--ro-bind", path, path]


def bwrap_args(tmpfs_mb: int) -> list[str]:
    args = ["bwrap", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("/lib", "/lib64", "/bin", "/sbin", "/lib32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in SANDBOX_SCRIPTS:
        args += ["--ro-bind", str(WORKER_SCRIPT.with_name(name)), f"/sandbox/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(tmpfs_mb * 1024 * 1024), "--perms", "0755", "--tmpfs", "/tmp",
             "--size", str(16 * 1024 * 1024), "--perms", "0755", "--tmpfs", "/dev/shm"]
    # The Python installation is bound after the private /tmp is mounted, so an interpreter or
    # venv that lives under /tmp (a CI checkout, say) is bound on top of it instead of hidden.
    seen: set[str] = set()
    for root in _python_roots():
        args += _bind_with_parents(root, seen)
    args += ["--chdir", "/tmp", "--clearenv"]
    for key, value in {**BASE_ENV, "HOME": "/tmp", "TMPDIR": "/tmp"}.items():
        args += ["--setenv", key, value]
    args += ["--cap-drop", "ALL"]
    for cap in WORKER_CAPS:
        args += ["--cap-add", cap]
    return args


@functools.cache
def seccomp_works() -> bool:
    """pyseccomp imports only when the system's libseccomp loads."""
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, OSError, RuntimeError):
        return False
    return True


@functools.cache
def bwrap_works() -> str | None:
    """None when bubblewrap runs our worker's interpreter here; otherwise why not."""
    if shutil.which("bwrap") is None:
        return "bwrap is not on PATH"
    if os.geteuid() != 0:
        return "bwrap workers need root to switch programs to an unprivileged uid"
    probe = bwrap_args(16) + [interpreter(), "-I", "-S", "-c", "pass"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap probe failed: {exc}"
    return None if done.returncode == 0 else f"bwrap probe failed: {done.stderr.decode()[-300:]}"


def resolve(mode: str) -> str:
    """The isolation level a Sandbox gets for `mode`; raises when `mode` cannot be honoured."""
    if mode not in MODES:
        raise ValueError(f"isolation must be one of {MODES}, got {mode!r}")
    if mode == "none":
        return "rlimits"
    seccomp = "+seccomp" if seccomp_works() else ""
    if mode in ("auto", "bwrap"):
        why = bwrap_works()
        if why is None:
            return f"bwrap{seccomp}+uid"
        if mode == "bwrap":
            raise IsolationUnavailable(f"isolation='bwrap' requested but {why}; {INSTALL_HINT}")
    if os.geteuid() != 0:
        return f"rlimits{seccomp}"  # cannot switch uid: see docs/sandbox.md
    return f"rlimits{seccomp}+uid"


def worker_command(level: str, tmp_root: str, tail_bytes: int, tmpfs_mb: int,
                   cpu: int | None = None) -> tuple[list[str], dict]:
    """argv and environment for one worker at `level`; each worker gets its own random uid so
    RLIMIT_NPROC and the end-of-program kill cover exactly that worker's programs, and is pinned
    to `cpu` when one is given."""
    config = {"seccomp": "seccomp" in level, "tail_bytes": tail_bytes,
              "uid": 100_000_000 + secrets.randbelow(1_900_000_000) if "uid" in level else None,
              "pid_namespace": level.startswith("bwrap"), "cpu": cpu}
    if level.startswith("bwrap"):
        config["tmp_root"] = "/tmp/programs"
        argv = bwrap_args(tmpfs_mb) + [interpreter(), "-I", "-B", SANDBOX_MOUNT, "boot", encode_config(config)]
        return argv, {"PATH": os.environ.get("PATH", BASE_ENV["PATH"])}
    config["tmp_root"] = tmp_root
    argv = [interpreter(), "-I", "-B", str(WORKER_SCRIPT), "boot", encode_config(config)]
    return argv, {**BASE_ENV, "HOME": tmp_root, "TMPDIR": tmp_root}
