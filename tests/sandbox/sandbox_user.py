"""The sandbox as an ordinary user, from a root test run: a subprocess as `nobody` runs a Sandbox
and reports its verdicts as JSON.

The interpreter of this test run may live where `nobody` cannot go (a pyenv build under /root,
mode 700). Nothing is copied: the subprocess starts in a private mount namespace in which this
run's $HOME (/root) is a fresh tmpfs laid out like an ordinary user's home, the user's $HOME
there, with Python living under it as it does for pyenv users:

    ~/.pyenv/...        the interpreter's installation(s) under $HOME, bound at their real paths
                        (the binary's RPATH and the venv's pyvenv.cfg point there)
    ~/project/.venv     this run's virtualenv (bound)
    ~/project/src       selfalign's source, on PYTHONPATH of the runner only
    ~/secret.txt        what no program may see

then drops to nobody/nogroup with no groups and no capabilities, as `setpriv --reuid=nobody
--regid=nogroup --clear-groups` does, and execs the venv's Python on RUNNER. Cost: a few mounts,
no copy (measured: ~20 ms over an interpreter start).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sandbox_guard import missing, require_isolation

from selfalign.sandbox import ExecResult, Limits, Program, Sandbox, isolation

REPO = Path(__file__).resolve().parents[2]
HOME = str(Path.home()) if str(Path.home()) not in ("/", "") else "/root"  # covered by a tmpfs in the view
SECRET = "selfalign-secret-9b1d"
USER = "nobody"

RUNNER = r'''
import json, os, sys
from selfalign.sandbox import Limits, Program, Sandbox, SandboxError
from selfalign.sandbox import isolation

request = json.load(sys.stdin)
batches, workers = [], []
try:
    with Sandbox(Limits(**request["limits"]), workers=request["workers"],
                 isolation=request.get("isolation", "auto")) as sandbox:
        for batch in request["batches"]:
            batches.append([r.to_dict() for _, r in sandbox.run(Program(*p) for p in batch)])
            workers.append([w.proc.pid for w in sandbox.workers])
        level = sandbox.isolation
except SandboxError as exc:
    print(json.dumps({"error": str(exc)}))
    sys.exit(0)
print(json.dumps({"isolation": level, "batches": batches, "workers": workers, "pid": os.getpid(),
                  "uid": os.getuid(), "roots": isolation._python_roots()}))
'''

# Runs as root in the child: the private mount namespace, then the switch to the user.
VIEW = r'''
import ctypes, json, os, sys
spec = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
def call(result, what):
    if result != 0:
        raise OSError(ctypes.get_errno(), what)
def bind(source, target):
    os.makedirs(target, exist_ok=True)
    call(libc.mount(source.encode(), target.encode(), None, 0x1000 | 0x4000, None), "bind " + target)
call(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
call(libc.mount(None, b"/", None, 0x4000 | 0x40000, None), "make / private")
stage = spec["stage"]
for i, (source, _) in enumerate(spec["binds"]):   # reachable after /root is covered
    bind(source, f"{stage}/{i}")
call(libc.mount(b"tmpfs", spec["home"].encode(), b"tmpfs", 0, b"mode=0755,size=1m"), "tmpfs home")
for i, (_, target) in enumerate(spec["binds"]):
    bind(f"{stage}/{i}", target)
with open(os.path.join(spec["home"], "secret.txt"), "w") as f:
    f.write(spec["secret"])
os.setgroups([])
os.setresgid(spec["gid"], spec["gid"], spec["gid"])
os.setresuid(spec["uid"], spec["uid"], spec["uid"])
os.chdir("/")
os.execve(spec["python"], [spec["python"], spec["runner"]], spec["env"])
'''


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def user_view() -> tuple[list[str], dict]:
    """argv (run it as root) and facts of the user's view: the interpreter it runs, the home."""
    account = pwd.getpwnam(USER)
    work = Path(tempfile.mkdtemp(prefix="selfalign-user-"))
    work.chmod(0o755)  # the user reads the runner here
    (work / "runner.py").write_text(RUNNER)
    (work / "stage").mkdir()
    venv = os.path.realpath(sys.prefix)
    binds = [(venv, f"{HOME}/project/.venv"), (str(REPO / "src"), f"{HOME}/project/src")]
    for root in {os.path.realpath(sys.base_prefix), os.path.dirname(os.path.realpath(sys.executable))}:
        if _under(root, HOME) and not any(_under(root, s) for s, _ in binds):
            binds.append((root, root))  # at its real path: the binary's RPATH and the venv point there
    python = f"{HOME}/project/.venv/bin/{Path(sys.executable).name}"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": HOME, "LANG": "C.UTF-8",
           "PYTHONPATH": f"{HOME}/project/src", "SELFALIGN_TEST_SECRET": SECRET}
    spec = {"stage": str(work / "stage"), "binds": binds, "home": HOME, "secret": SECRET,
            "uid": account.pw_uid, "gid": account.pw_gid, "python": python,
            "runner": str(work / "runner.py"), "env": env}
    return [sys.executable, "-I", "-c", VIEW, json.dumps(spec)], {"work": work, "uid": account.pw_uid}


def run_as_user(request: dict, timeout: float = 240) -> dict:
    """Run RUNNER as the user with `request` on stdin; its JSON answer, plus rc and stderr."""
    argv, facts = user_view()
    try:
        done = subprocess.run(argv, input=json.dumps(request), capture_output=True, text=True,
                              timeout=timeout)
    finally:
        subprocess.run(["rm", "-rf", str(facts["work"])], check=False)
    lines = done.stdout.strip().splitlines()
    answer = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return {**answer, "rc": done.returncode, "stderr": done.stderr[-3000:], "user_uid": facts["uid"]}


def run_sandbox(level: str, limits: Limits, workers: int, batches: list[list[Program]],
                mode: str = "auto") -> dict:
    """Run `batches` one after another in one Sandbox, as root ("as_root", in this process) or as
    an unprivileged user ("as_user": `nobody` in a subprocess when this run is root, else this
    process). Skips (fails under SELFALIGN_REQUIRE_ISOLATION=1) when the level cannot run here.
    ``mode`` is Sandbox(isolation=...); only "auto" needs (and checks) a bubblewrap level.
    Returns {"isolation", "batches": [[ExecResult]], "workers": [[pid]] after each batch, "roots"}."""
    if level == "as_root" or os.geteuid() != 0:
        if level == "as_root" and os.geteuid() != 0:
            pytest.skip("the root level needs a root test run")
        got = require_isolation() if mode == "auto" else None
        with Sandbox(limits, workers=workers, isolation=mode) as sandbox:
            out = {"isolation": sandbox.isolation, "batches": [], "workers": [], "roots": isolation._python_roots()}
            for batch in batches:
                out["batches"].append([r for _, r in sandbox.run(batch)])
                out["workers"].append([w.proc.pid for w in sandbox.workers])
            out["uids"] = {isolation.decode_config(w.proc.args[-1])["uid"] for w in sandbox.workers} - {None}
        assert got in (None, out["isolation"])
        return out
    request = {"limits": limits.to_dict(), "workers": workers, "isolation": mode,
               "batches": [[[p.id, p.code, p.tests] for p in batch] for batch in batches]}
    answer = run_as_user(request)
    if "error" in answer:
        if isolation.userns_blocker() is not None or shutil.which("bwrap") is None:
            missing(f"the unprivileged sandbox is unavailable here: {answer['error']}")
        pytest.fail(f"the unprivileged sandbox failed: {answer['error']}")
    assert answer["rc"] == 0 and "batches" in answer, answer
    answer["batches"] = [[ExecResult.from_dict(r) for r in batch] for batch in answer["batches"]]
    return answer
