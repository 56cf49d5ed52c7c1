"""How a sandbox worker is started: under bubblewrap, or under a weaker level asked for by name.

Levels, strongest first (the name is written into every verdict; docs/sandbox.md has the table):
- ``bwrap+seccomp+uid`` (root): a bubblewrap worker with private network/pid/ipc/uts namespaces,
  a read-only view of only the system dirs and the Python installation, and a private size-capped
  tmpfs; each child also drops to the worker's own unprivileged uid and inherits a seccomp filter.
- ``bwrap+userns+seccomp`` (any user, through an unprivileged user namespace): the same view and
  namespaces, plus read-only ``/``, ``/tmp``, ``/dev``, ``/dev/shm`` and a writable tmpfs for the
  programs' own directories only. A child cannot switch uid here, so programs run in a pid
  namespace nested in the worker's, whose init is the forker: they cannot name, signal or read
  the supervisor, and cannot signal or read the forker (init of their namespace, non-dumpable).
- ``rlimits+seccomp+uid`` (root, ``isolation="rlimits"``): no namespaces; uid switch, seccomp,
  rlimits. World-readable files stay visible; world-writable places (host /tmp) stay writable.
- ``rlimits+seccomp`` / ``rlimits`` (``isolation="rlimits"`` without root / ``"none"``): rlimits,
  timeouts and process-group kills as the current user. Not a security boundary.

``auto`` takes the first bubblewrap level that starts here and otherwise refuses, saying why and
how to fix it: it never falls back to a level without namespaces on its own.

Trade-off: the worker is started once per slot (the expensive part: bwrap + interpreter start)
and every program is a fork inside it, so isolation is per worker and separation between programs
is by fork + uid (or nested pid namespace) + fresh temp dir rather than a fresh sandbox per program.
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
SANDBOX_SCRIPTS = ("worker.py", "boot.py", "forker.py", "harness.py", "userns.py")  # run inside, side by side
SANDBOX_MOUNT = "/sandbox/worker.py"
PROGRAMS_DIR = "/tmp/programs"  # inside bwrap: the programs' own directories
MODES = ("auto", "bwrap", "rlimits", "none")
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: `apt-get install -y bubblewrap`)"
WEAKER_HINT = ('or, knowingly without namespaces: execute.isolation = "rlimits" (--isolation rlimits) '
               'or "none"')
THREAD_ENV = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
            **THREAD_ENV}
WORKER_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
# In a user namespace the worker's boot stage needs only this, to nest the programs' pid and mount
# namespaces; it is gone (ambient set cleared, non-root uid) once boot execs the serving stage.
USERNS_CAPS = ("CAP_SYS_ADMIN",)


def encode_config(config: dict) -> str:
    """The worker's config as one argv word (marshal: the worker decodes it without imports)."""
    return marshal.dumps(config).hex()


def decode_config(word: str) -> dict:
    return marshal.loads(bytes.fromhex(word))


class IsolationUnavailable(RuntimeError):
    pass


def interpreter() -> str:
    """The Python that runs programs: this environment's, never a pyenv shim (50 ms per start).
    Normalized: `..` through directories the sandbox does not show cannot be followed there."""
    return os.path.normpath(sys.executable)


def _python_roots() -> list[str]:
    """What the interpreter needs, bound read-only: its prefix (venv) and base prefix, symlinks
    resolved. A root that is $HOME or holds it (``--prefix=$HOME``) is narrowed to the interpreter,
    its standard library and libpython, so nothing else of $HOME becomes visible."""
    roots = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    system = ("/usr", "/etc", "/lib", "/lib64", "/bin", "/sbin")
    keep = {r for r in roots if not any(r == s or r.startswith(s + "/") for s in system)}
    home = os.path.realpath(os.path.expanduser("~"))
    for root in [r for r in keep if home == r or home.startswith(r.rstrip("/") + "/")]:
        keep.discard(root)
        keep.update(_interpreter_files(root))
    return sorted(k for k in keep if not any(k != o and k.startswith(o + "/") for o in keep))


def _interpreter_files(root: str) -> list[str]:
    """In a prefix that also holds other things: the interpreter, its stdlib and libpython."""
    lib = os.path.join(root, "lib")
    libpython = []
    if os.path.isdir(lib):
        libpython = [os.path.join(lib, n) for n in os.listdir(lib) if n.startswith("libpython")]
    stdlib = os.path.join(lib, f"python{sys.version_info.major}.{sys.version_info.minor}")
    return [p for p in (os.path.realpath(sys.executable), stdlib, *libpython) if os.path.exists(p)]


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


def bwrap_args(tmpfs_mb: int, userns_uid: int | None = None) -> list[str]:
    """bubblewrap's command line: run as root (``userns_uid`` None), or through an unprivileged
    user namespace in which the worker is ``userns_uid`` and holds only ``USERNS_CAPS``."""
    userns = userns_uid is not None
    args = ["bwrap"]
    if userns:
        args += ["--unshare-user", "--uid", str(userns_uid), "--gid", str(userns_uid)]
    args += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
             "--unshare-cgroup-try", "--die-with-parent", "--new-session",
             "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("/lib", "/lib64", "/bin", "/sbin", "/lib32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in SANDBOX_SCRIPTS:
        args += ["--ro-bind", str(WORKER_SCRIPT.with_name(name)), f"/sandbox/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if userns:
        # Everything bwrap creates belongs to the worker's uid here, which is also the programs'
        # uid: only the programs' own directories are writable, and the supervisor empties them.
        args += ["--size", str(1 << 20), "--perms", "0755", "--tmpfs", "/tmp",
                 "--size", str(tmpfs_mb * 1024 * 1024), "--perms", "0711", "--tmpfs", PROGRAMS_DIR]
    else:
        args += ["--size", str(tmpfs_mb * 1024 * 1024), "--perms", "0755", "--tmpfs", "/tmp"]
    args += ["--size", str(16 * 1024 * 1024), "--perms", "0755", "--tmpfs", "/dev/shm"]
    # The Python installation is bound after the private /tmp is mounted, so an interpreter or
    # venv that lives under /tmp (a CI checkout, say) is bound on top of it instead of hidden.
    seen: set[str] = set()
    for root in _python_roots():
        args += _bind_with_parents(root, seen)
    if userns:
        for path in ("/tmp", "/dev/shm", "/dev", "/"):
            args += ["--remount-ro", path]
    args += ["--chdir", "/tmp", "--clearenv"]
    for key, value in {**BASE_ENV, "HOME": "/tmp", "TMPDIR": "/tmp"}.items():
        args += ["--setenv", key, value]
    args += ["--cap-drop", "ALL"]
    for cap in USERNS_CAPS if userns else WORKER_CAPS:
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
def bwrap_works(userns: bool = False) -> str | None:
    """None when a bubblewrap worker can start here, as root (``userns=False``) or through an
    unprivileged user namespace; otherwise why not, in a few words."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    if not userns and os.geteuid() != 0:
        return "not root"
    if not userns:
        probe = bwrap_args(16) + [interpreter(), "-I", "-S", "-c", "pass"]
    else:  # the worker's own namespace set-up, not just an interpreter start
        probe = bwrap_args(16, _sandbox_uid()) + [interpreter(), "-I", "-B", SANDBOX_MOUNT, "probe",
                                                   encode_config({})]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap probe failed: {exc}"
    if done.returncode == 0:
        return None
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return f"bwrap failed: {lines[-1][-200:] if lines else f'exit status {done.returncode}'}"


USERNS_SWITCHES = (  # sysctl, the value that forbids unprivileged user namespaces, the fix
    ("kernel.unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1"),
    ("kernel.apparmor_restrict_unprivileged_userns", "1",
     "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 24.04)"),
    ("user.max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=10000"))


def userns_blocker(proc_sys: str = "/proc/sys") -> str | None:
    """The kernel setting that forbids unprivileged user namespaces here, with its fix; None if
    none of the known ones does."""
    for name, bad, fix in USERNS_SWITCHES:
        try:
            value = Path(proc_sys, *name.split(".")).read_text().strip()
        except OSError:
            continue
        if value == bad:
            return f"unprivileged user namespaces are disabled ({name} = {bad}); enable them: {fix}"
    return None


def refusal(reasons: list[str]) -> str:
    """The one-line error when no bubblewrap level starts: why, and how to fix it."""
    if shutil.which("bwrap") is None:
        fix = INSTALL_HINT
    else:
        fix = userns_blocker() or ("if unprivileged user namespaces are disabled, enable them (sysctl -w "
                                   "kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 sysctl -w "
                                   "kernel.apparmor_restrict_unprivileged_userns=0), or run as root")
    return f"no isolated sandbox here: {'; '.join(reasons)}. Fix: {fix}; {WEAKER_HINT}"


def resolve(mode: str) -> str:
    """The isolation level a Sandbox gets for `mode`; raises when `mode` cannot be honoured."""
    if mode not in MODES:
        raise ValueError(f"isolation must be one of {MODES}, got {mode!r}")
    if mode == "none":
        return "rlimits"
    seccomp = "+seccomp" if seccomp_works() else ""
    if mode == "rlimits":  # asked for by name: no namespaces
        return f"rlimits{seccomp}+uid" if os.geteuid() == 0 else f"rlimits{seccomp}"
    if shutil.which("bwrap") is None:
        raise IsolationUnavailable(refusal(["bubblewrap (bwrap) is not installed"]))
    reasons = []
    if os.geteuid() == 0:
        why = bwrap_works()
        if why is None:
            return f"bwrap{seccomp}+uid"
        reasons.append(f"as root: {why}")
    why = bwrap_works(userns=True)
    if why is None:
        return f"bwrap+userns{seccomp}"
    reasons.append(f"in a user namespace: {why}")
    raise IsolationUnavailable(refusal(reasons))


def _sandbox_uid() -> int:
    """A uid no account has: random per worker, so RLIMIT_NPROC (counted per uid) covers exactly
    one worker's programs at the root level."""
    return 100_000_000 + secrets.randbelow(1_900_000_000)


def worker_command(level: str, tmp_root: str, tail_bytes: int, tmpfs_mb: int,
                   cpu: int | None = None) -> tuple[list[str], dict]:
    """argv and environment for one worker at `level`, pinned to `cpu` when one is given."""
    uid = _sandbox_uid()
    userns = level.startswith("bwrap+userns")
    config = {"seccomp": "seccomp" in level, "tail_bytes": tail_bytes,
              "uid": uid if level.endswith("+uid") else None, "userns": userns,
              "pid_namespace": level.startswith("bwrap"), "cpu": cpu}
    if level.startswith("bwrap"):
        config["tmp_root"] = PROGRAMS_DIR
        argv = bwrap_args(tmpfs_mb, uid if userns else None) + [
            interpreter(), "-I", "-B", SANDBOX_MOUNT, "boot", encode_config(config)]
        return argv, {"PATH": os.environ.get("PATH", BASE_ENV["PATH"])}
    config["tmp_root"] = tmp_root
    argv = [interpreter(), "-I", "-B", str(WORKER_SCRIPT), "boot", encode_config(config)]
    return argv, {**BASE_ENV, "HOME": tmp_root, "TMPDIR": tmp_root}
