"""The command line as a user meets it: help that teaches, one-line errors, exit codes."""

from __future__ import annotations

import json

import pytest

from selfalign.cli import build_parser, main

COMMANDS = ["run", "seeds", "concepts", "instructions", "responses", "curate", "status", "config",
            "respond", "execute", "eval", "report"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"selfalign {command}" in out and len(out.splitlines()) > 4


def test_top_level_help_lists_the_commands():
    text = build_parser().format_help()
    for command in COMMANDS:
        assert command in text


@pytest.mark.parametrize("command, keys", [("eval", ["--set", "eval.generation.n", "CONFIG"]),
                                           ("execute", ["--set", "--config", "execute.limits.timeout_s"])])
def test_eval_and_execute_help_explain_the_config_route(command, keys, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert all(key in out for key in keys)


def test_bad_config_is_one_line_without_traceback(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[responses]\nsamples = 3\n")
    assert main(["run", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "unknown key responses.samples" in err
    assert "Traceback" not in err


def test_bad_model_or_restart_from_fails_before_the_run_directory_exists(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["run", "--restart-from", "nosuch", "--run-dir", str(run), "--no-progress"]) == 2
    assert "cannot restart from 'nosuch'" in capsys.readouterr().err
    assert main(["concepts", "--model", str(tmp_path / "nope.gguf"), "--run-dir", str(run),
                 "--no-progress"]) == 2
    assert "model path not found" in capsys.readouterr().err
    assert not run.exists()


def test_stage_without_its_input_says_what_to_do(tmp_path, capsys):
    assert main(["responses", "--run-dir", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "needs the output of 'instructions'" in err


def test_config_lists_every_key_and_resolves_overrides(capsys):
    assert main(["config"]) == 0
    listing = capsys.readouterr().out
    assert "responses.n" in listing and "seeds.near_dedup_threshold" in listing
    assert main(["config", "--set", "responses.n=9"]) == 0
    assert "n = 9" in capsys.readouterr().out


def test_status_prints_the_funnel(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    stages = {"concepts": {"status": "done", "in": 4, "kept": 3, "dropped": {"truncated": 1}, "seconds": 2.0}}
    (run / "manifest.json").write_text(json.dumps({"format": "selfalign.manifest", "version": 1,
                                                   "stages": stages}))
    assert main(["status", str(run)]) == 0
    out = capsys.readouterr().out
    assert "concepts" in out and "truncated 1" in out
    assert main(["status", str(tmp_path / "none")]) == 2


def test_status_of_a_damaged_manifest_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("{not json")
    assert main(["status", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "manifest.json: not valid JSON" in err and "Traceback" not in err


def test_funnel_shows_prompt_and_generated_tokens_per_stage():
    from selfalign.report.funnel import funnel_rows
    stages = {"concepts": {"status": "done", "in": 4, "kept": 4, "seconds": 9.0, "llm": {
                  "calls": 4, "cache_hits": 0, "tokens": 38_211, "prompt_tokens": 412_345,
                  "prompt_evaluated": 151_000}},
              "execute": {"status": "done", "in": 4, "kept": 1, "dropped": {"exec:fail": 3},
                          "seconds": 1.0, "llm": {"calls": 0, "tokens": 0, "prompt_tokens": 0}},
              "responses": {"status": "done", "in": 4, "kept": 4, "seconds": 1.0,
                            "llm": {"calls": 4, "tokens": 950}}}     # written before prompts counted
    rows = {row[0]: row for row in funnel_rows({"stages": stages})}
    assert rows["concepts"][5] == "412k prompt (151k run), 38k out"
    assert rows["execute"][5] == "" and rows["responses"][5] == "950 out"


def test_stage_help_says_what_each_stage_reads(capsys):
    with pytest.raises(SystemExit):
        main(["seeds", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "needs no earlier stage" in out and "input stage must have finished" not in out
    with pytest.raises(SystemExit):
        main(["responses", "--help"])
    assert "Its input stage, instructions, must have finished" in " ".join(capsys.readouterr().out.split())


def test_a_bad_set_names_the_override_that_is_wrong(tmp_path, capsys):
    assert main(["config", "--set", "run.seed=1", "--set", "run.limit=abc", "--set", "responses.n=2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set run.limit=abc: run.limit should be int") and "defaults" not in err
    path = tmp_path / "bad.toml"
    path.write_text('[run]\nlimit = "x"\n')
    assert main(["config", str(path), "--set", "run.seed=1"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {path}: run.limit should be int")


def test_one_row_is_not_rows(tmp_path, capsys):
    src = tmp_path / "one.jsonl"
    src.write_text('{"id": 1, "code": "x = 1"}\n')
    assert main(["execute", str(src), "-o", str(tmp_path / "out.jsonl"), "--no-progress", "--no-cache"]) == 0
    assert "1 row executed" in capsys.readouterr().err


def test_funnel_rows_keep_one_unit_and_show_the_limit_cut():
    from selfalign.report.funnel import funnel_rows
    stages = {"seeds": {"status": "done", "in": 761, "out": 761, "kept": 121, "dropped": {"dedup:near": 640}},
              "concepts": {"status": "done", "in": 12, "out": 12, "kept": 10, "dropped": {"truncated": 2}},
              "instructions": {"status": "done", "in": 10, "out": 10, "kept": 9, "dropped": {"truncated": 1}},
              "responses": {"status": "done", "in": 9, "out": 18, "kept": 1,
                            "dropped": {"truncated": 12, "no_tests": 5}}}
    rows = {row[0]: row for row in funnel_rows({"stages": stages, "config": {"run": {"limit": 12}}})}
    assert rows["concepts"][1:4] == ("12 of 121 (run.limit)", "12", "10")
    assert rows["responses"][1:5] == ("9", "18", "1", "17 (truncated 12, no_tests 5)")
