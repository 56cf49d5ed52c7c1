"""``selfalign eval`` end to end: rescoring sample files, the results file, and --compare."""

from __future__ import annotations

import json

from selfalign.benchmarks import load
from selfalign.cli import main
from selfalign.evaluate.results import read_results


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_rescore_then_compare_shows_flips(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SELFALIGN_CACHE_DIR", str(tmp_path / "cache"))
    problems = load("humaneval")[:6]
    before = write(tmp_path / "a.jsonl", [
        {"task_id": p.task_id, "completion": p.canonical_solution if i < 3 else "    return None\n"}
        for i, p in enumerate(problems)])
    after = write(tmp_path / "b.jsonl", [
        {"task_id": p.task_id, "solution": p.reference_program if i != 1 else p.prompt + "    pass\n"}
        for i, p in enumerate(problems)])
    for name, samples in (("a", before), ("b", after)):
        code = main(["eval", "--samples", samples, "--benchmark", "humaneval", "--limit", "6",
                     "-o", str(tmp_path / name), "--workers", "2"])
        assert code == 0
    result = read_results(tmp_path / "a")["benchmarks"]["humaneval"]
    assert result["scores"] == {"pass@1": 50.0}
    assert result["dataset"]["sha256"].startswith("b796127e")
    assert result["per_problem"]["HumanEval/4"]["failure"]["phase"] == "test"
    verdicts = (tmp_path / "a" / "humaneval.verdicts.jsonl").read_text().splitlines()
    assert len(verdicts) == 6
    capsys.readouterr()
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    shown = capsys.readouterr().out
    assert "fixed HumanEval/3, HumanEval/4, HumanEval/5" in shown
    assert "broken HumanEval/1" in shown


def test_bad_sample_file_is_one_clear_error(tmp_path, capsys):
    bad = write(tmp_path / "bad.jsonl", [{"task_id": "HumanEval/0"}])
    assert main(["eval", "--samples", bad, "--benchmark", "humaneval", "-o", str(tmp_path / "o")]) == 2
    assert "bad.jsonl:1: a sample needs a 'solution' or a 'completion'" in capsys.readouterr().err


def test_toml_config_sets_eval_and_set_overrides_win(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SELFALIGN_CACHE_DIR", str(tmp_path / "cache"))
    problems = load("humaneval")[:6]
    samples = write(tmp_path / "s.jsonl", [{"task_id": p.task_id, "solution": p.reference_program}
                                           for p in problems])
    out = tmp_path / "out"
    config = tmp_path / "eval.toml"
    config.write_text(f'[eval]\nbenchmarks = ["humaneval"]\nlimit = 3\noutput_dir = "{out}"\n'
                      '[eval.score]\nworkers = 2\n[eval.score.time]\nfloor_s = 0.5\n')
    assert main(["eval", str(config), "--samples", samples, "--set", "eval.limit=5"]) == 0
    result = read_results(out)["benchmarks"]["humaneval"]
    assert result["problems_scored"] == 5                       # --set beat the file's limit = 3
    assert result["settings"]["time_limits"]["floor_s"] == 0.5  # the file's value, not the default
    assert "limit = 5" in (out / "eval-config.toml").read_text()
    assert "score humaneval: 5/5 (100%)" in capsys.readouterr().err   # plain progress when piped
    # a flag is a shortcut appended after --set, so it wins over both
    assert main(["eval", str(config), "--samples", samples, "--set", "eval.limit=5", "--limit", "2",
                 "--no-progress"]) == 0
    assert read_results(out)["benchmarks"]["humaneval"]["problems_scored"] == 2


def test_unknown_set_key_is_one_line_naming_it(tmp_path, capsys):
    assert main(["eval", "--samples", "none.jsonl", "--set", "eval.nosuch=1", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "unknown key eval.nosuch" in err and len(err.splitlines()) == 1
    assert main(["eval", "--option", "n_threads", "-o", str(tmp_path)]) == 2
    assert "'n_threads' should look like KEY=VALUE" in capsys.readouterr().err


def test_flags_are_shortcuts_for_config_keys():
    from selfalign.cli import build_parser
    from selfalign.cli.eval import overrides
    from selfalign.settings import load_config

    def resolve(*argv):
        return load_config(None, overrides(build_parser().parse_args(["eval", *argv])))

    assert resolve() == load_config()                        # no flag: the config defaults
    config = resolve("--n", "4", "--temperature", "0.8", "--min-time-limit", "1", "--prefix", "fence",
                     "--benchmark", "mbpp", "--benchmark", "humaneval+", "--workers", "3",
                     "--data", "ds1000=/data/ds 1000.jsonl", "--option", "n_threads=1",
                     "--option", "flash=true", "--model", "m.gguf", "--backend", "llamacpp",
                     "--lcb-start", "2024-01-01", "--base", "--allow-partial")
    assert (config.eval.generation.n, config.eval.generation.temperature) == (4, 0.8)
    assert config.eval.generation.base and not config.eval.generation.repeat_prompt
    assert config.eval.benchmarks == ["mbpp", "humaneval+"] and config.eval.score.workers == 3
    assert config.eval.score.time.floor_s == 1.0 and config.eval.livecodebench_start == "2024-01-01"
    assert config.eval.data == {"ds1000": "/data/ds 1000.jsonl"}
    assert config.model.options == {"n_threads": 1, "flash": True}
    assert (config.model.model, config.model.backend) == ("m.gguf", "llamacpp")
    assert config.eval.allow_partial and not resolve().eval.allow_partial
