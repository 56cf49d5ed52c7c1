"""The sandbox run by an ordinary user (issue 10): the two reported escapes, reproduced as that
user and contained, and what else the user level must keep from programs. From a root test run
the user is `nobody` in a subprocess (sandbox_user.py); run as an ordinary user, this process."""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
from pathlib import Path

import pytest
from sandbox_guard import ROOT_LEVEL, USER_LEVEL, host_guard
from sandbox_user import HOME, SECRET, USER, run_sandbox

from selfalign.sandbox import Limits, Program

LIMITS = Limits(timeout_s=3.0, memory_mb=512, max_processes=32)
TOKEN = f"selfalign-escape-{secrets.token_hex(4)}"
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm")


def _canary() -> subprocess.Popen:
    """A process of the user outside the sandbox, which no program may signal."""
    if os.geteuid() != 0:
        return subprocess.Popen(["sleep", "60"])
    account = pwd.getpwnam(USER)
    return subprocess.Popen(["sleep", "60"], user=account.pw_uid, group=account.pw_gid, extra_groups=[])


ESCAPES = {  # name: (code, tests, status)
    # Reported: a program wrote into the host's /tmp.
    "write_host_tmp": (f"open('/tmp/{TOKEN}', 'w').write('x')", "", "blocked"),
    "write_world_writable": ("wrote = []\n" + "".join(
        f"try:\n    open('{d}/{TOKEN}', 'w').write('x')\n    wrote.append('{d}')\nexcept OSError:\n    pass\n"
        for d in WORLD_WRITABLE), "assert wrote == [], wrote", "pass"),
    "own_temp_file_stays_inside": ("import tempfile\nfd, path = tempfile.mkstemp()\nprint(path)", "", "pass"),
    # Reported: kill(-1, SIGINT) killed `selfalign execute` itself.
    "interrupt_everyone": ("import os, signal\nos.kill(-1, signal.SIGINT)", "", "blocked"),
    "interrupt_every_pid": ("import os, signal\nfor pid in range(1, 1 << 16):\n    try:\n"
                            "        os.kill(pid, signal.SIGINT) if pid != os.getpid() else None\n"
                            "    except OSError:\n        pass", "", "pass"),
    "network": ("import socket\nsocket.create_connection(('8.8.8.8', 53), timeout=1)", "", "blocked"),
    "loopback": ("import socket\nsocket.socket().bind(('127.0.0.1', 0))", "", "blocked"),
    "list_root": ("import os\nprint(sorted(os.listdir('/root')) if os.path.isdir('/root') else [])", "", "pass"),
    "read_home_secret": (f"print(open({HOME + '/secret.txt'!r}).read())", "", "fail"),
    "list_home_project": (f"import os\nprint(sorted(os.listdir({HOME + '/project'!r})))", "", None),
    "no_capabilities": ("status = dict(l.split(':\\t') for l in open('/proc/self/status').read().splitlines())",
                        "assert all(int(status[k], 16) == 0 for k in ('CapEff', 'CapPrm', 'CapAmb'))\n"
                        "assert status['NoNewPrivs'].strip() == '1'", "pass"),
}


@pytest.fixture(scope="module")
def escapes():
    canary = _canary()
    try:
        with host_guard():
            programs = [Program(k, c, t) for k, (c, t, _) in ESCAPES.items()]
            # Two programs at once, in two workers: neither sees the other's files.
            side_by_side = [Program("other_a", "import time\nopen('a-was-here', 'w').write('x')\ntime.sleep(1.0)"),
                            Program("other_b", "import os, time\ntime.sleep(0.3)\n"
                                    "seen = [d for d, _, files in os.walk('/tmp') if 'a-was-here' in files]",
                                    "assert seen == [], seen")]
            run = run_sandbox("as_user", LIMITS, 2, [programs, side_by_side])
        canary_alive = canary.poll() is None
    finally:
        canary.kill()
        canary.wait()
    return {"results": dict(zip(ESCAPES, run["batches"][0])), "side_by_side": run["batches"][1],
            "canary_alive": canary_alive, "roots": run["roots"], "runner": run}


@pytest.mark.parametrize("name", [k for k, v in ESCAPES.items() if v[2]])
def test_escape_attempt_gets_the_right_verdict(escapes, name):
    result = escapes["results"][name]
    assert (result.status, result.isolation) == (ESCAPES[name][2], USER_LEVEL), (result.error, result.stderr_tail)


def test_nothing_reached_the_host_tmp(escapes):
    for d in WORLD_WRITABLE:
        assert not Path(d, TOKEN).exists()
    inside = escapes["results"]["own_temp_file_stays_inside"].stdout_tail.strip()
    assert inside.startswith("/tmp/programs/") and not Path(inside).exists()


def test_signals_reached_nothing_outside(escapes):
    """kill(-1) is refused, and a program signalling every pid reaches no process outside its
    namespace: not the process that runs the Sandbox (it answered), not the user's others."""
    assert escapes["canary_alive"]
    assert len(escapes["results"]) == len(ESCAPES)  # the Sandbox's process lived to report them all


def test_home_and_root_show_only_the_python_installation(escapes):
    results = escapes["results"]
    allowed = {Path(r).relative_to(HOME).parts[0] for r in escapes["roots"] if r.startswith(HOME + "/")}
    if HOME == "/root":
        assert set(eval(results["list_root"].stdout_tail)) == allowed
    assert results["read_home_secret"].error_type == "FileNotFoundError"
    assert all(SECRET not in r.stdout_tail + r.stderr_tail for r in results.values())
    if "project" in allowed:  # sandbox_user's layout: the venv is there, the source is not
        assert eval(results["list_home_project"].stdout_tail) == [".venv"]


def test_programs_side_by_side_do_not_see_each_others_files(escapes):
    assert [r.status for r in escapes["side_by_side"]] == ["pass", "pass"], escapes["side_by_side"][1].error


@pytest.mark.parametrize("level", ["as_root", "as_user"])
def test_programs_can_neither_stop_nor_kill_their_worker(level):
    """The worker's supervisor and forker survive every attempt: same worker before and after,
    and the program after the attempts runs normally in it."""
    attempts = [
        Program("pidfd_kill", "import os, signal\nsignal.pidfd_send_signal(os.pidfd_open(os.getppid()), signal.SIGKILL)"),
        Program("pidfd_stop", "import os, signal\nsignal.pidfd_send_signal(os.pidfd_open(os.getppid()), signal.SIGSTOP)"),
        Program("kill_parent", "import os\nos.kill(os.getppid(), 9)"),
        Program("kill_all", "import os\nos.kill(-1, 9)"),
        Program("after", "x = 1", "assert x == 1"),
    ]
    with host_guard():
        run = run_sandbox(level, Limits(timeout_s=2.0, memory_mb=512), 1, [[Program("warm", "pass")], attempts])
    assert run["workers"][0] == run["workers"][1]  # never replaced
    assert [r.status for r in run["batches"][1]][-1] == "pass"
    assert all(r.isolation == {"as_root": ROOT_LEVEL, "as_user": USER_LEVEL}[level] for r in run["batches"][1])


def test_a_worker_with_too_many_zombies_is_replaced():
    """User level: leftovers killed at the end of a program become zombies of the forker (init of
    the programs' namespace), which reaps only its own children; past ZOMBIE_LIMIT the worker
    retires after its verdict, and the next program starts in a fresh one."""
    litter = "import os, time\nfor _ in range(20):\n    if os.fork() == 0:\n        time.sleep(60)\n        os._exit(0)"
    look = ("import os\nprocs = sorted(p for p in os.listdir('/proc') if p.isdigit())", "assert procs == ['1', str(os.getpid())], procs")
    with host_guard():
        run = run_sandbox("as_user", LIMITS, 1, [[Program("litter", litter)], [Program("look", *look)]])
    assert [b[0].status for b in run["batches"]] == ["pass", "pass"], run["batches"][1][0].error
    assert run["workers"][0] != run["workers"][1]


def test_the_weaker_level_asked_for_by_name_lets_both_out():
    """The control: the same attempts under isolation="none" (rlimits only, as the user), which
    `auto` never picks by itself, reach the host's /tmp and a process outside. So the user-level
    tests above reproduce the reported escapes rather than miss them."""
    canary = _canary()
    try:
        programs = [Program("write_host_tmp", ESCAPES["write_host_tmp"][0]),
                    Program("signal_outsider", f"import os, signal\nos.kill({canary.pid}, signal.SIGKILL)")]
        with host_guard():
            run = run_sandbox("as_user", LIMITS, 1, [programs], mode="none")
        canary.wait(timeout=5)
        assert [r.status for r in run["batches"][0]] == ["pass", "pass"]
        assert Path("/tmp", TOKEN).exists() and canary.returncode == -9
    finally:
        Path("/tmp", TOKEN).unlink(missing_ok=True)
        canary.kill()
        canary.wait()


def test_the_user_level_keeps_an_outsider_unreachable_by_pid():
    canary = _canary()
    try:
        program = Program("signal_outsider", f"import os, signal\nos.kill({canary.pid}, signal.SIGKILL)")
        with host_guard():
            run = run_sandbox("as_user", LIMITS, 1, [[program]])
        assert run["batches"][0][0].error_type == "ProcessLookupError"  # no such pid in its namespace
        assert canary.poll() is None
    finally:
        canary.kill()
        canary.wait()


@pytest.mark.parametrize("level", ["as_root", "as_user"])
def test_no_ipc_object_outlives_a_program(level):
    """SysV IPC lives as long as the worker's IPC namespace; a segment left by one program would
    be readable by the next (same worker, same uid), so creating one is refused."""
    shm = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
           "if libc.shmget(0x5e1f, 4096, 0o1600) < 0:\n    raise OSError(ctypes.get_errno(), 'shmget')")
    with host_guard():
        run = run_sandbox(level, Limits(timeout_s=2.0, memory_mb=512), 1, [[Program("shm", shm)]])
    (result,) = run["batches"][0]
    assert (result.status, result.error_type) == ("blocked", "PermissionError"), result.error
