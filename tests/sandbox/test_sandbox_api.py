"""The Sandbox's contract: order, laziness, caching, limits, worker replacement, isolation choice."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest
from sandbox_guard import ROOT_LEVEL, USER_LEVEL, host_guard, require_isolation

from selfalign.sandbox import ExecResult, Limits, Program, Sandbox, SandboxError, isolation
from selfalign.sandbox.verdict import cache_key

FAST = Limits(timeout_s=2.0, memory_mb=512)


def test_results_come_back_in_input_order_whatever_finishes_first():
    delays = [0.3, 0.0, 0.2, 0.0, 0.1, 0.0]
    programs = [Program(f"p{i}", f"import time\ntime.sleep({d})\nx = {i}", f"assert x == {i}")
                for i, d in enumerate(delays)]
    with Sandbox(FAST, workers=2) as sandbox:
        got = list(sandbox.run(programs))
    assert [p.id for p, _ in got] == [p.id for p in programs]
    assert all(r.status == "pass" for _, r in got)


def test_input_is_consumed_lazily_with_bounded_look_ahead():
    pulled = []

    def endless():
        i = 0
        while True:
            pulled.append(i)
            yield Program(str(i), f"x = {i}", "assert x >= 0")
            i += 1

    with Sandbox(FAST, workers=2) as sandbox:
        stream = sandbox.run(endless())
        first = [next(stream) for _ in range(5)]
        stream.close()
    assert [p.id for p, _ in first] == ["0", "1", "2", "3", "4"]
    assert len(pulled) <= 5 + sandbox.lookahead


def test_cache_answers_a_rerun_without_executing(tmp_path):
    programs = [Program(str(i), f"import time\ntime.sleep(0.05)\nx = {i}", "assert x % 3") for i in range(12)]
    with Sandbox(FAST, workers=2, cache_path=tmp_path / "v.sqlite") as sandbox:
        first = [r for _, r in sandbox.run(programs)]
    with Sandbox(FAST, workers=2, cache_path=tmp_path / "v.sqlite") as sandbox:
        started = time.monotonic()
        second = [r for _, r in sandbox.run(programs)]
        elapsed = time.monotonic() - started
        assert sandbox.workers == []  # no worker was ever needed
    assert not any(r.cached for r in first) and all(r.cached for r in second)
    assert [r.status for r in first] == [r.status for r in second]
    assert [r.status for r in first].count("fail") == 4
    assert elapsed < 0.5


def test_cache_key_covers_code_tests_limits_and_timeout():
    p = Program("a", "x = 1", "assert x")
    base = cache_key(p, FAST, "bwrap+seccomp+uid")
    assert cache_key(Program("other-id", "x = 1", "assert x"), FAST, "bwrap+seccomp+uid") == base
    variants = [cache_key(Program("a", "x = 2", "assert x"), FAST, "bwrap+seccomp+uid"),
                cache_key(Program("a", "x = 1", "assert not x"), FAST, "bwrap+seccomp+uid"),
                cache_key(Program("a", "x = 1", "assert x", timeout_s=1.0), FAST, "bwrap+seccomp+uid"),
                cache_key(p, Limits(memory_mb=1024), "bwrap+seccomp+uid"),
                cache_key(p, FAST, "rlimits")]
    assert len(set(variants + [base])) == 6


def test_per_program_timeout_overrides_the_default():
    programs = [Program("short", "import time\ntime.sleep(1)", timeout_s=0.3),
                Program("default", "import time\ntime.sleep(1)", "assert True")]
    with Sandbox(FAST, workers=2) as sandbox:
        short, default = [r for _, r in sandbox.run(programs)]
    assert short.status == "timeout" and short.wall_s < 0.8
    assert default.status == "pass"


def test_result_fields_and_to_dict():
    with Sandbox(FAST, workers=1) as sandbox:
        [(_, result)] = sandbox.run([Program("x", "print('hello')\nraise ValueError('bad value')")])
    assert result.status == "fail" and result.error_type == "ValueError" and result.error == "bad value"
    assert result.stdout_tail == "hello\n" and "ValueError: bad value" in result.stderr_tail
    assert "raise ValueError('bad value')" in result.stderr_tail  # the program's own line, shown
    assert "harness" not in result.stderr_tail  # and none of ours
    assert result.exit_code == 1 and result.wall_s > 0 and result.peak_mb > 0
    row = result.to_dict()
    assert set(row) == {"status", "exit_code", "wall_s", "cpu_s", "peak_mb", "error_type", "error",
                        "stdout_tail", "stderr_tail", "isolation"}
    assert ExecResult.from_dict(row) == result


def test_a_killed_worker_is_replaced_and_its_program_retried():
    with host_guard(), Sandbox(FAST, workers=1) as sandbox:
        list(sandbox.run([Program("warm", "pass")]))  # the worker is up and idle

        def kill_worker_soon():
            time.sleep(0.5)
            os.killpg(sandbox.workers[0].proc.pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_worker_soon)
        killer.start()
        programs = [Program("slow", "import time\ntime.sleep(1.0)", "assert True"),
                    Program("next", "x = 1", "assert x == 1")]
        results = [r for _, r in sandbox.run(programs)]
        killer.join()
    assert [r.status for r in results] == ["pass", "pass"]


@pytest.mark.slow
def test_a_stuck_worker_misses_the_host_deadline_and_is_replaced():
    limits = Limits(timeout_s=0.5, memory_mb=512)
    with host_guard(), Sandbox(limits, workers=1) as sandbox:
        list(sandbox.run([Program("warm", "pass")]))  # the worker is up and idle
        for pid in _process_tree(sandbox.workers[0].proc.pid):  # frozen: it will never answer
            os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        results = [r for _, r in sandbox.run([Program("victim", "x = 1"), Program("after", "x = 2", "assert x == 2")])]
        elapsed = time.monotonic() - started
    assert [r.status for r in results] == ["timeout", "pass"]
    assert "worker" in results[0].error
    assert elapsed < limits.timeout_s + 3.0 + 2.0  # the host margin, plus a fresh worker's start


def test_without_bubblewrap_auto_refuses_in_one_line_saying_how_to_fix_it(monkeypatch, tmp_path):
    """auto never falls back to a level without namespaces by itself; a weaker level asked for by
    name still runs."""
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty dir: no bwrap on PATH
    isolation.bwrap_works.cache_clear()
    try:
        for mode in ("auto", "bwrap"):
            with pytest.raises(SandboxError) as refused:
                Sandbox(FAST, isolation=mode)
            message = str(refused.value)
            assert "\n" not in message and "bubblewrap (bwrap) is not installed" in message
            assert "apt-get install -y bubblewrap" in message and '--isolation rlimits' in message
        assert Sandbox(FAST, isolation="rlimits").isolation.startswith("rlimits")
    finally:
        monkeypatch.undo()
        isolation.bwrap_works.cache_clear()


def test_refusal_names_the_user_namespace_switch_that_is_off(monkeypatch, tmp_path):
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "apparmor_restrict_unprivileged_userns").write_text("1\n")
    assert "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in isolation.userns_blocker(str(tmp_path))
    (tmp_path / "kernel" / "unprivileged_userns_clone").write_text("0\n")
    assert "sysctl -w kernel.unprivileged_userns_clone=1" in isolation.userns_blocker(str(tmp_path))
    assert isolation.userns_blocker(str(tmp_path / "nothing-here")) is None

    # No root level, and bwrap fails in a user namespace: the message says both, and the fix.
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(isolation, "bwrap_works", lambda userns=False: "bwrap failed: setting up uid map: Permission denied")
    monkeypatch.setattr(isolation, "userns_blocker", lambda: "unprivileged user namespaces are disabled "
                        "(kernel.unprivileged_userns_clone = 0); enable them: sysctl -w kernel.unprivileged_userns_clone=1")
    monkeypatch.setattr(isolation.shutil, "which", lambda name: "/usr/bin/bwrap")
    with pytest.raises(isolation.IsolationUnavailable) as refused:
        isolation.resolve("auto")
    message = str(refused.value)
    assert message.startswith("no isolated sandbox here: in a user namespace: bwrap failed: setting up uid map")
    assert "Fix: unprivileged user namespaces are disabled" in message and "\n" not in message
    assert isolation.resolve("rlimits").startswith("rlimits") and "uid" not in isolation.resolve("rlimits")


def test_unknown_isolation_is_rejected():
    with pytest.raises(ValueError, match="isolation must be one of"):
        Sandbox(FAST, isolation="docker")


@pytest.mark.skipif(os.geteuid() != 0, reason="the fallback switches uid, which needs root")
def test_fallback_isolation_contains_the_basics():
    """rlimits+seccomp+uid: no namespaces, but still no internet, no writing root's files, no fork bomb."""
    programs = {"ok": ("def f(x):\n    return x * 2", "assert f(2) == 4", "pass"),
                "net": ("import socket\nsocket.socket().connect(('8.8.8.8', 53))", "", "blocked"),
                "write": ("open('/usr/escape.txt', 'w')", "", "blocked"),
                "fork_bomb": ("import os\nwhile True:\n    os.fork()", "", "blocked"),
                "loop": ("while True:\n    pass", "", "timeout"),
                "early_exit": ("import os\nos._exit(0)", "assert False", "fail")}
    if not _readable_by_others(sys.base_prefix):  # documented: children import nothing new then
        del programs["net"]
    limits = Limits(timeout_s=1.0, memory_mb=512, max_processes=16)
    with host_guard(), Sandbox(limits, workers=2, isolation="rlimits") as sandbox:
        assert sandbox.isolation == "rlimits+seccomp+uid"
        got = {p.id: r for p, r in sandbox.run(Program(k, c, t) for k, (c, t, _) in programs.items())}
    assert {k: r.status for k, r in got.items()} == {k: v[2] for k, v in programs.items()}


@pytest.mark.skipif(os.geteuid() != 0, reason="the fallback switches uid, which needs root")
def test_fallback_programs_die_with_their_worker():
    """No pid namespace here: a program sleeping in its own session must still go when its worker is replaced."""
    limits = Limits(timeout_s=0.5, memory_mb=512)
    with host_guard(), Sandbox(limits, workers=1, isolation="rlimits") as sandbox:
        list(sandbox.run([Program("warm", "pass")]))
        uid = isolation.decode_config(sandbox.workers[0].proc.args[-1])["uid"]
        worker = sandbox.workers[0].proc.pid
        daemon = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\ntime.sleep(60)"
        # Once the program and its daemon run, freeze the worker alone: only the host can act now.
        freezer = threading.Timer(0.3, os.kill, (worker, signal.SIGSTOP))
        freezer.start()
        [(_, result)] = sandbox.run([Program("daemon", daemon)])
        freezer.join()
        assert result.status == "timeout" and "replaced" in result.error
        time.sleep(0.2)
        assert [p for p in os.listdir("/proc") if p.isdigit() and _uid_of(p) == uid and _alive(p)] == []


def _alive(pid: str) -> bool:
    """Not a zombie: a killed orphan waits for init to reap it, holding nothing but its pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _uid_of(pid: str) -> int:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return -1


def test_none_isolation_runs_trusted_code():
    with Sandbox(FAST, workers=1, isolation="none") as sandbox:
        results = [r for _, r in sandbox.run([Program("a", "x = 1", "assert x == 1"),
                                              Program("b", "x = 1", "assert x == 2")])]
    assert [(r.status, r.isolation) for r in results] == [("pass", "rlimits"), ("fail", "rlimits")]


def test_limits_reject_nonsense():
    with pytest.raises(ValueError, match="timeout_s"):
        Limits(timeout_s=0)


def test_hostile_tests_need_isolation_here():
    """On this project's machines bubblewrap is set up; if it stops working, say so loudly."""
    require_isolation()
    assert Sandbox(FAST).isolation == (ROOT_LEVEL if os.geteuid() == 0 else USER_LEVEL)


def _readable_by_others(path: str) -> bool:
    while path not in ("/", ""):
        if not os.stat(path).st_mode & 0o001:
            return False
        path = os.path.dirname(path)
    return True


def _process_tree(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def test_workers_are_spread_over_the_allowed_cpus_and_their_programs_stay_there():
    require_isolation()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("one CPU: nothing to spread over")
    program = Program("where", "import os\nprint(sorted(os.sched_getaffinity(0)))", "")
    with Sandbox(FAST, workers=2) as sandbox:
        list(sandbox.run([program, Program("other", "import time\ntime.sleep(0.2)")]))
        assert sorted(w.cpu for w in sandbox.workers) == cpus[:2]
        (_, result), = sandbox.run([program])
        assert len(eval(result.stdout_tail)) == 1
    with Sandbox(FAST, workers=2, pin_cpus=False) as sandbox:
        (_, result), = sandbox.run([program])
        assert eval(result.stdout_tail) == cpus
        assert {w.cpu for w in sandbox.workers} == {None}
