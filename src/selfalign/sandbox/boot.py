"""Stage one of the sandbox worker: what is set before the serving stage and outlives its exec.

``python -I -B worker.py boot CONFIG`` runs ``boot`` here: the CPU pin, the subreaper and
parent-death prctls, the seccomp filter (``build_seccomp_filter``: pyseccomp, loaded last and
inherited by the forker and every program) and, at the user-namespace level, the programs' own
pid namespace with its forker (userns.py); then it execs ``worker.py serve CONFIG``.

Apart from worker.py because it is stage one's alone: the serving stage, a fresh interpreter
after that exec, never imports it, so neither this code nor ctypes and libseccomp are mapped in
the supervisor or in the forker whose image every program inherits. Standard library only
besides pyseccomp; mounted beside worker.py, which put this directory on sys.path.
"""

from __future__ import annotations

import errno
import marshal
import os
import signal
import sys

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
SECCOMP_DENIED = ["ptrace", "mount", "umount2", "unshare", "setns", "pivot_root", "chroot", "bpf",
                  "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd",
                  "io_uring_setup", "process_vm_readv", "process_vm_writev", "kexec_load",
                  "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
                  "acct", "settimeofday", "clock_settime", "syslog", "pidfd_getfd",
                  # IPC objects outlive a program in its worker: the next one could read them
                  "shmget", "semget", "msgget", "mq_open"]
# Namespace flags: a program may not make namespaces (a user namespace would give it capabilities).
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
CLONE_NAMESPACES = (CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
                    CLONE_NEWNET)
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 36, 47, 4


def build_seccomp_filter():
    """Deny non-Unix sockets (EACCES, so Python raises PermissionError -> 'blocked'), new
    namespaces, ``kill(1)`` and ``kill(-1)`` (EPERM: pid 1 is never the program's, and what
    ``kill(-1)`` reaches would depend on the level), and kernel-facing calls an unprivileged
    program never needs (defence in depth). ``clone3`` says ENOSYS, so libc falls back to
    ``clone``, whose flags a filter can read."""
    import pyseccomp as sc

    flt = sc.SyscallFilter(defaction=sc.ALLOW)
    for family in (2, 10, 16, 17):  # AF_INET, AF_INET6, AF_NETLINK, AF_PACKET
        flt.add_rule(sc.ERRNO(errno.EACCES), "socket", sc.Arg(0, sc.EQ, family))
    for pid in (1, 0xFFFFFFFF):  # pid_t is 32 bits: compare the low word only
        flt.add_rule(sc.ERRNO(errno.EPERM), "kill", sc.Arg(0, sc.MASKED_EQ, 0xFFFFFFFF, pid))
    for flag in CLONE_NAMESPACES:
        flt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    try:
        flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    except Exception:  # a libseccomp too old to know it
        pass
    for name in SECCOMP_DENIED:
        try:
            flt.add_rule(sc.ERRNO(errno.EPERM), name)
        except Exception:  # a syscall this architecture lacks
            pass
    return flt


def boot(config: dict) -> None:
    """Stage one: set what must outlive exec (seccomp filter, parent-death signal, subreaper; at
    the userns level, the programs' own pid namespace and its forker), then exec stage two, whose
    interpreter has none of ctypes/libseccomp mapped."""
    import ctypes

    if config.get("cpu") is not None:  # inherited by the forker and every program
        os.sched_setaffinity(0, {config["cpu"]})
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphaned grandchildren come back to us
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # die with whoever started us
    # Stage two skips site (no .pth code runs in it) but keeps the import path site built here.
    config["sys_path"] = [p for p in sys.path if p and p != os.path.dirname(os.path.abspath(__file__))]
    flt = build_seccomp_filter() if config.get("seccomp") else None
    if config.get("userns"):
        from userns import start_nested_forker

        config["workdir"] = f"{config['tmp_root']}/w{os.getpid()}-{os.urandom(4).hex()}"
        config["handoff"], config["forker_pid"] = start_nested_forker(libc, flt, config)
        libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # exec drops every capability
    if flt is not None:
        flt.load()  # inherited by every child; the worker needs none of it
    os.execv(sys.executable, [sys.executable, "-I", "-B", "-S", WORKER_SCRIPT, "serve",
                              encode_config(config)])


def encode_config(config: dict) -> str:
    return marshal.dumps(config).hex()
