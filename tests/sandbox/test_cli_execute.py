"""`selfalign execute` end to end: a real JSONL file in, verdict rows out, malformed lines reported."""

from __future__ import annotations

import argparse
import json

import pytest

from selfalign.cli.execute import register


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="selfalign")
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


ROWS = [
    '{"id": "a", "code": "def f(x):\\n    return x + 1", "tests": "assert f(1) == 2", "meta": {"k": 1}}',
    "this is not json",
    '{"id": 7, "code": "def f(x):\\n    return x", "tests": "assert f(1) == 2, \'off by one\'"}',
    "[1, 2]",
    '{"id": "no-code"}',
    "",
    '{"id": "loop", "code": "while True:\\n    pass", "timeout_s": 0.3}',
    '{"id": "bad-tests", "code": "x = 1", "tests": 5}',
]


def test_execute_writes_each_row_with_its_verdict(tmp_path, capsys):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(ROWS) + "\n")
    assert run_cli(["execute", str(src), "-o", str(dst), "--timeout", "2", "--memory-mb", "512",
                    "--workers", "2"]) == 0
    rows = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", 7, "loop"]
    assert rows[0]["meta"] == {"k": 1} and rows[0]["exec"]["status"] == "pass"
    assert rows[1]["exec"]["status"] == "fail" and rows[1]["exec"]["error"] == "off by one"
    assert rows[2]["exec"]["status"] == "timeout"
    assert set(rows[0]["exec"]) == {"status", "exit_code", "wall_s", "cpu_s", "peak_mb", "error_type",
                                    "error", "stdout_tail", "stderr_tail", "isolation"}
    err = capsys.readouterr().err
    for lineno, reason in ((2, "not valid JSON"), (4, "expected a JSON object"), (5, "'code'"), (8, "'tests'")):
        assert f"in.jsonl:{lineno}: skipped:" in err and reason in err
    assert "3 rows executed" in err

    # A rerun answers from the cache and writes the same verdicts.
    assert run_cli(["execute", str(src), "-o", str(dst), "--timeout", "2", "--memory-mb", "512"]) == 0
    again = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [r["exec"] for r in again] == [r["exec"] for r in rows]
    assert "cached 3" in capsys.readouterr().err


def test_missing_input_and_bad_limits_are_errors(tmp_path, capsys):
    assert run_cli(["execute", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "in.jsonl").write_text('{"id": 1, "code": "pass"}\n')
    assert run_cli(["execute", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "o.jsonl"), "--timeout", "0"]) == 2
    assert "timeout_s must be > 0" in capsys.readouterr().err


def test_help_teaches_the_row_format(capsys):
    with pytest.raises(SystemExit):
        run_cli(["execute", "--help"])
    out = capsys.readouterr().out
    for word in ("IN.jsonl", "tests", "blocked", "--memory-mb", "--workers", "examples:"):
        assert word in out


def test_execute_section_from_config_and_set(tmp_path, capsys):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": "loop", "code": "while True:\\n    pass"}\n')
    config = tmp_path / "run.toml"
    config.write_text("[execute]\nworkers = 1\n[execute.limits]\ntimeout_s = 30.0\n")
    assert run_cli(["execute", str(src), "-o", str(dst), "--config", str(config), "--no-cache",
                    "--set", "execute.limits.timeout_s=0.5"]) == 0
    (row,) = [json.loads(line) for line in dst.read_text().splitlines()]
    assert row["exec"]["status"] == "timeout" and row["exec"]["wall_s"] < 5   # not the default 10 s
    capsys.readouterr()
    assert run_cli(["execute", str(src), "-o", str(dst), "--set", "model.model=x"]) == 2
    assert "only execute.* keys" in capsys.readouterr().err
    assert run_cli(["execute", str(src), "-o", str(dst), "--set", "execute.limits.nosuch=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown key execute.limits.nosuch" in err and len(err.splitlines()) == 1


def _responses_file(path):
    """A responses.jsonl as the pipeline writes it: header line, then Response records."""
    from selfalign.records import Response
    from selfalign.store import write_records

    def response(solution, tests):
        return Response(parent_id="i1", seed_id="s1", instruction="Write inc.", response="...",
                        solution=solution, tests=tests).to_dict()

    inc = "def inc(x):\n    return x + 1\n"
    write_records(path, "response", [
        response(inc, "def test_inc():\n    assert inc(1) == 2\n"),
        # a test function nobody calls passes as a plain program; collected, it fails
        response(inc, "def test_inc():\n    assert inc(1) == 3\n"),
    ])


def test_execute_reads_a_pipeline_responses_file(tmp_path, capsys):
    src, dst = tmp_path / "responses.jsonl", tmp_path / "out.jsonl"
    _responses_file(src)
    assert run_cli(["execute", str(src), "-o", str(dst), "--no-progress", "--no-cache"]) == 0
    rows = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [r["exec"]["status"] for r in rows] == ["pass", "fail"]
    assert rows[1]["exec"]["error_type"] == "AssertionError"
    err = capsys.readouterr().err
    assert "skipped" not in err and "malformed" not in err and "2 rows executed" in err


def test_a_file_with_no_executable_row_fails(tmp_path, capsys):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": 1, "solution_code": "pass"}\n')
    assert run_cli(["execute", str(src), "-o", str(dst), "--no-progress", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "0 rows executed" in err and "no row of" in err and "its only row was skipped" in err

    src.write_text('{"format": "selfalign", "kind": "response", "version": 2}\n')
    assert run_cli(["execute", str(src), "-o", str(dst), "--no-progress", "--no-cache"]) == 2
    assert "holds no rows" in capsys.readouterr().err


def test_a_stage_file_without_code_is_refused(tmp_path, capsys):
    from selfalign.records import Seed
    from selfalign.store import write_records

    src = tmp_path / "seeds.jsonl"
    write_records(src, "seed", [Seed(content="def f():\n    return 1\n").to_dict()])
    assert run_cli(["execute", str(src), "-o", str(tmp_path / "out.jsonl"), "--no-progress"]) == 2
    assert "holds 'seed' records" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


def test_a_line_cut_short_is_blamed_on_its_own_end(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "code": "pass"}\n{"id": 2, "code": "x = 1"\n[1, 2\n')
    assert run_cli(["execute", str(src), "-o", str(tmp_path / "out.jsonl"), "--no-progress", "--no-cache"]) == 0
    err = capsys.readouterr().err
    # the column is the line's end (its length + 1), not "column 1" of a line that does not exist
    assert "in.jsonl:2: skipped: not valid JSON (Expecting ',' delimiter at column 26)" in err
    assert "in.jsonl:3: skipped: not valid JSON (Expecting ',' delimiter at column 6)" in err
