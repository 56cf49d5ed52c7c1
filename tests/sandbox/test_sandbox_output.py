"""What a program's verdict says about it: its traceback on stderr, compiler warnings, the right
compile flags, and output that belongs to this program only (the output pipes live as long as
the worker, so attribution rests on everything the previous program left being killed first)."""

from __future__ import annotations

import pytest
from sandbox_guard import host_guard, require_isolation

from selfalign.sandbox import Limits, Program, Sandbox

LIMITS = Limits(timeout_s=2.0, memory_mb=512, max_processes=16)

PROGRAMS = {
    "chained": ("def parse(s):\n    try:\n        return int(s)\n    except ValueError as exc:\n"
                "        raise KeyError(s) from exc", "parse('x')"),
    "context": ("def f():\n    try:\n        1 / 0\n    except ZeroDivisionError:\n        undefined_name",
                "f()"),
    "syntax": ("def f(:\n    pass", ""),
    "recursion": ("def down(n):\n    return down(n + 1)", "down(0)"),
    "library_frame": ("import json", "json.loads('{')"),
    "custom_module_exception": ("class Oops(Exception):\n    pass", "raise Oops('bad ' + 'thing')"),
    "notes": ("e = ValueError('v')\ne.add_note('a note')", "raise e"),
    "warning": ("x = 1", "assert (x == 2, 'always true')"),
    "annotations_are_objects": ("def f(x: int) -> str:\n    return str(x)",
                                "assert f.__annotations__ == {'x': int, 'return': str}, f.__annotations__"),
    "prints_then_fails": ("print('before')\nimport sys\nprint('to stderr', file=sys.stderr)", "assert 1 == 2"),
    "daemon_writes_late": ("import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(0.3)\n"
                           "    for _ in range(50):\n        print('LEAKED', flush=True)\n"
                           "        print('LEAKED', file=sys.stderr, flush=True)\n        time.sleep(0.01)\n"
                           "    os._exit(0)", "assert True"),
    **{f"after_{i}": ("import time\ntime.sleep(0.05)", "print('mine')") for i in range(12)},
}


@pytest.fixture(scope="module")
def results():
    require_isolation()
    with host_guard(), Sandbox(LIMITS, workers=1) as sandbox:
        return {p.id: r for p, r in sandbox.run(Program(k, c, t) for k, (c, t) in PROGRAMS.items())}


def test_chained_exceptions_print_oldest_first_with_the_joint(results):
    err = results["chained"].stderr_tail
    assert err.index("ValueError: invalid literal") < err.index("direct cause") < err.index("KeyError: 'x'")
    assert '  File "<program>", line 3, in parse\n    return int(s)\n' in err
    assert "harness" not in err
    err = results["context"].stderr_tail
    assert "During handling of the above exception" in err and err.rstrip().endswith(
        "NameError: name 'undefined_name' is not defined")


def test_syntax_errors_show_the_line_and_a_caret(results):
    result = results["syntax"]
    assert result.status == "fail" and result.error_type == "SyntaxError"
    assert '  File "<program>", line 1\n    def f(:\n          ^\nSyntaxError: ' in result.stderr_tail


def test_repeated_frames_are_counted_not_printed(results):
    err = results["recursion"].stderr_tail
    assert "[Previous line repeated" in err and err.rstrip().endswith("RecursionError: maximum recursion depth exceeded")


def test_library_frames_show_their_source_lines(results):
    err = results["library_frame"].stderr_tail
    assert "json/decoder.py" in err and "json.decoder.JSONDecodeError: Expecting property name" in err
    assert "    obj, end = self.scan_once(s, idx)\n" in err


def test_exception_text_and_notes_as_python_prints_them(results):
    assert results["custom_module_exception"].stderr_tail.endswith("Oops: bad thing\n")
    assert results["notes"].stderr_tail.endswith("ValueError: v\na note\n")


def test_compiler_warnings_reach_stderr(results):
    result = results["warning"]
    assert result.status == "pass"
    assert "SyntaxWarning: assertion is always true" in result.stderr_tail


def test_programs_compile_without_the_harness_future_flags(results):
    assert results["annotations_are_objects"].status == "pass", results["annotations_are_objects"].error


def test_output_of_a_failing_program_is_kept(results):
    result = results["prints_then_fails"]
    assert result.stdout_tail == "before\n"
    assert result.stderr_tail.startswith("to stderr\nTraceback (most recent call last):\n")


def test_output_left_behind_never_reaches_the_next_program(results):
    assert results["daemon_writes_late"].status == "pass"
    for i in range(12):
        assert results[f"after_{i}"].stdout_tail == "mine\n"
        assert results[f"after_{i}"].stderr_tail == ""
