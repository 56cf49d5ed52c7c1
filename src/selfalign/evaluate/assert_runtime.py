"""The assert benchmarks (HumanEval, MBPP) in the sandbox: a test process and the candidate's.

Like runtime.py and plain_data.py, whose helpers it uses, this runs inside the sandbox (programs.py copies what a
program needs into it) and uses only the standard library. The sandboxed program is the *test
process* (``run_check``): it starts the candidate in a fresh interpreter (``serve_candidate``), so
the candidate shares no memory with the tests: it never holds the test code, the expected values
or anything that reports a verdict. The benchmark's test code then runs here with the candidate
replaced by ``Remote``: a call is a message, and what comes back is plain data (exact builtin
types) decoded here, so the comparisons use this process's own builtins on values the candidate
cannot give behaviour to. The tests' CPU limit counts both processes.

Trade-off: an interpreter start per sample (~20 ms) and a message per call (~0.1 ms), and a test
can no longer see what the candidate did to its arguments or give it objects that are not plain
data (no HumanEval or MBPP test does either).
"""

import os
import signal
import sys
import time

from selfalign.evaluate.plain_data import NotPlain, decode, encode
from selfalign.evaluate.runtime import LOAD_LIMIT_S, REFERENCE_MARK, TestTimeout, _emit, call_limited, fail, with_builtins

REPLY_MAX = 64 << 20  # bytes of one answer from the candidate's process


def run_check(code, spec, limit_s, server, timed=False):
    """The test process of HumanEval / MBPP. The candidate runs in a fresh interpreter; here run
    the benchmark's trusted parts (``spec["preamble"]``: HumanEval's prompt, MBPP's setup imports)
    and its test code, with the entry point and the other names the tests take from the candidate
    (``spec["remote"]``) bound to ``Remote``. Defining the code has its own limit; the tests get
    ``limit_s`` of CPU time, this process's and the candidate's together."""
    path = list(sys.path)   # the candidate's; this process imports nothing from where it writes
    sys.path[:] = [p for p in path if p and not os.access(p, os.W_OK)]
    sys.path_importer_cache.clear()
    sys.set_int_max_str_digits(0)
    _undumpable()
    candidate = Candidate(server)
    try:
        try:
            error = call_limited(candidate.load, (code, spec["setup"], path), LOAD_LIMIT_S)
        except TestTimeout:
            fail("load", -1, "timeout", f"defining the code took over {LOAD_LIMIT_S}s")
        except Rejected as exc:
            fail("load", -1, "error", str(exc))
        if error is not None:
            fail("load", error[1], "error", error[0])
        namespace = {"__name__": "__test__"}
        exec(compile(spec["preamble"], "<prompt>", "exec"), namespace)
        for name in spec["remote"]:
            namespace[name] = Remote(candidate, name)
        candidate.start_clock(limit_s)
        try:
            call_limited(exec, (compile(spec["test"], "<test>", "exec"), namespace), limit_s)
        except TestTimeout:
            fail("test", 0, "timeout", f"over {limit_s:.3f}s")
        except AssertionError as exc:
            fail("test", _failing_line(exc), "wrong", _failing_source(exc, spec["test"]))
        except Rejected as exc:
            fail("test", _failing_line(exc), "wrong", str(exc))
        except BaseException as exc:
            fail("test", _failing_line(exc), "error", f"{type(exc).__name__}: {exc}")
        if timed:   # the reference run reports its own time, both processes together
            _emit(REFERENCE_MARK, [{"t": candidate.used()}])
    finally:
        candidate.kill()


def _undumpable():
    """Keep the candidate's process out of this one's memory and fds (/proc/<pid>/mem, fd): the
    kernel refuses that for a non-dumpable process. One that changed uid (the sandbox's uid
    levels) already is (/proc/self is root's), and so is one whose forker made itself so (the
    user-namespace level, where programs are root of their namespace); a real root has nothing
    to protect from a candidate that is root too."""
    try:
        if os.geteuid() == 0 or os.stat("/proc/self/mem").st_uid != os.geteuid():
            return
    except OSError:
        pass
    import ctypes
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)   # PR_SET_DUMPABLE = 0


class Rejected(BaseException):
    """The candidate answered with something that is not plain data, or not at all."""


class Remote:
    """A name in the candidate's process: calling it is a call there, passing it as an argument
    passes the name. Nothing else of the candidate exists in the test process."""

    def __init__(self, candidate, name):
        self._candidate, self._name = candidate, name

    def __call__(self, *args, **kwargs):
        return self._candidate.call(self._name, args, kwargs)

    def __repr__(self):
        return f"<candidate's {self._name}>"


class Candidate:
    """The test process's handle of the candidate's process: a fresh interpreter (no memory
    shared with this one, PYTHONHASHSEED=0) that runs ``server`` (hex of a marshalled
    serve_candidate, see programs.candidate_server), reads requests on fd 3, answers on fd 4."""

    def __init__(self, server):
        import select  # the worker's image has it
        requests, answers = os.pipe(), os.pipe()
        ends = [_away_from(requests[0]), _away_from(answers[1])]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(PYTHONHASHSEED="0", PYTHONIOENCODING="utf-8")
        boot = "import marshal, sys; exec(marshal.loads(bytes.fromhex(sys.argv[1])))"
        self.pid = os.posix_spawn(sys.executable, [sys.executable, "-S", "-s", "-B", "-c", boot, server], env,
                                  file_actions=[(os.POSIX_SPAWN_DUP2, ends[0], 3),
                                                (os.POSIX_SPAWN_DUP2, ends[1], 4)])
        for fd in {*requests, *answers, *ends} - {requests[1], answers[0]}:
            os.close(fd)
        self.out, self.inp, self.select = requests[1], answers[0], select.select
        self.clock = ((~self.pid) << 3) | 2   # CPUCLOCK_SCHED of that process
        self.start_clock(LOAD_LIMIT_S)

    def cpu(self):
        try:
            return time.clock_gettime(self.clock)
        except OSError:   # it has ended
            return 0.0

    def start_clock(self, limit_s):
        self.budget, self.cpu0, self.own0 = limit_s, self.cpu(), time.process_time()

    def used(self):
        return (self.cpu() - self.cpu0) + (time.process_time() - self.own0)

    def load(self, code, setup, path):
        """None, or (why, line) when defining the code failed."""
        self._send({"path": path, "code": code, "setup": setup})
        answer = self._answer()
        if "error" in answer:
            return str(answer["error"])[:500], -1
        return None

    def call(self, name, args, kwargs):
        try:
            payload = {"call": name, "args": [_outgoing(a) for a in args],
                       "kwargs": {k: _outgoing(v) for k, v in kwargs.items()}}
        except NotPlain as exc:
            raise TypeError(f"cannot pass a {exc} to the candidate's process") from None
        self._send(payload)
        answer = self._answer()
        if "bad" in answer:
            raise Rejected(f"the candidate returned a {str(answer['bad'])[:100]}, not plain data")
        if "raise" in answer:
            import builtins
            kind, message = (answer["raise"] + ["", ""])[:2] if type(answer["raise"]) is list else ("", "")
            cls = getattr(builtins, kind, None) if type(kind) is str else None
            try:   # the same builtin exception, here (a class that takes other arguments cannot be)
                error = cls(str(message)) if isinstance(cls, type) and issubclass(cls, Exception) else None
            except Exception:
                error = None
            if error is None:
                raise Rejected(f"the candidate raised {str(kind)[:100]}: {str(message)[:300]}")
            raise error
        try:
            return decode(answer.get("ok"))
        except Exception as exc:
            raise Rejected(f"the candidate answered with something that is not plain data: {exc}") from None

    def _send(self, message):
        import marshal
        data = marshal.dumps(message)
        data = len(data).to_bytes(4, "little") + data
        while data:
            data = data[os.write(self.out, data):]

    def _answer(self):
        """The next answer, waiting while this process and the candidate have budget left."""
        size = int.from_bytes(self._read(4), "little")
        if size > REPLY_MAX:
            raise Rejected("the candidate's answer is too large")
        try:
            answer = json_value(self._read(size).decode("ascii"))
        except (ValueError, RecursionError):
            answer = None
        if type(answer) is not dict or len(answer) != 1 or not {"ok", "bad", "raise", "error"} >= set(answer):
            raise Rejected("the candidate's answer is malformed")
        return answer

    def _read(self, size):
        data = bytearray()
        while len(data) < size:
            left = self.budget - self.used()
            if left <= 0:
                raise TestTimeout()
            if self.select([self.inp], [], [], left)[0]:
                chunk = os.read(self.inp, min(size - len(data), 1 << 20))
                if not chunk:
                    raise Rejected("the candidate's process ended")
                data += chunk
        return bytes(data)

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


class _Parsing:
    """What _json's C scanner reads from json.JSONDecoder; importing json itself (its regexes)
    would cost every test process a few ms."""
    strict, object_hook, object_pairs_hook = True, None, None
    parse_float, parse_int = float, int

    @staticmethod
    def parse_constant(name):
        return float(name.replace("Infinity", "inf"))


def json_value(text):
    """The JSON value that is all of ``text`` (ValueError otherwise)."""
    import _json
    value, end = _json.make_scanner(_Parsing)(text, 0)
    if text[end:].strip():
        raise ValueError("extra data")
    return value


def _away_from(fd):
    """fd, or a duplicate of it, that is not 3 or 4 (where the candidate's ends are placed)."""
    while fd in (3, 4):
        fd = os.dup(fd)
    return fd


def _outgoing(value):
    return {"~ref": value._name} if type(value) is Remote else encode(value)


def serve_candidate():
    """The candidate's process: a fresh interpreter holding the candidate's code and nothing of
    the tests. Requests (marshal) come on fd 3; each answer (JSON) goes to fd 4: plain data, the
    builtin base of an exception it raised, or that the value is not plain data. Our part runs
    with the builtins as they were before the candidate's code (with_builtins)."""
    import builtins
    ours = dict(vars(builtins))
    request = _request()
    sys.path[:] = request["path"]
    sys.set_int_max_str_digits(0)
    sys.stdout = open(os.devnull, "w")
    namespace, answer = {"__name__": "__candidate__"}, {"ok": None}
    try:
        exec(compile(request["code"], "<candidate>", "exec"), namespace)
        if request["setup"]:
            exec(compile(request["setup"], "<setup>", "exec"), namespace)
    except BaseException as exc:
        answer = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    while True:
        request = with_builtins(ours, _exchange, answer)
        try:
            fn, args, kwargs = with_builtins(ours, _call, request, namespace)
            answer = {"ok": with_builtins(ours, encode, fn(*args, **kwargs))}
        except NotPlain as exc:
            answer = {"bad": str(exc)}
        except BaseException as exc:
            base = next(c for c in type(exc).__mro__ if c.__module__ == "builtins")
            answer = {"raise": [base.__name__, str(exc)[:1000]]}


def _call(request, namespace):
    """The function, arguments and keyword arguments a request names."""
    if request["call"] not in namespace:
        raise NameError(f"name {request['call']!r} is not defined")
    return (namespace[request["call"]], [decode(a, ("~ref",), namespace) for a in request["args"]],
            {k: decode(v, ("~ref",), namespace) for k, v in request["kwargs"].items()})


def _exchange(answer):
    """Send one answer, wait for the next request. JSON through _json's C encoder: importing
    json (and re) would cost every candidate's process a few ms."""
    import _json
    dumps = _json.make_encoder(None, _not_plain, _json.encode_basestring_ascii, None, ":", ",", False, False, True)
    data = "".join(dumps(answer, 0)).encode()
    data = len(data).to_bytes(4, "little") + data
    while data:
        data = data[os.write(4, data):]
    return _request()


def _not_plain(value):
    raise TypeError(f"{type(value).__name__} is not JSON")


def _request():
    import marshal
    return marshal.loads(_frame(3))


def _frame(fd):
    data = b""
    while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "little"):
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            os._exit(0)   # the test process is done with us
        data += chunk
    return data[4:]


def _failing_line(exc):
    tb, line = exc.__traceback__, -1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in ("<candidate>", "<test>"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _failing_source(exc, program):
    line = _failing_line(exc)
    lines = program.splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else str(exc)
