"""`selfalign curate IN.jsonl -o OUT_DIR`: malformed lines named, the stub run, a run's verdicts."""

from __future__ import annotations

import argparse
import json

from selfalign.cli import curate as curate_cli
from selfalign.records import Verdict
from selfalign.store import header


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="selfalign")
    curate_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def _row(ident, name, tests, status="pass"):
    code = f"def {name}(x):\n    return x + 1" if name != "shout" else "def shout(x):\n    print(x)"
    return {"id": ident, "instruction": f"Write {name}(x) for the exercise number {ident} of the course.",
            "response": f"Solution:\n```python\n{code}\n```\n\n### Tests\n```python\n{tests}\n```",
            "code": code, "tests": tests, "exec": {"status": status}}


def test_command_writes_the_dataset_and_names_bad_lines(tmp_path, capsys):
    lines = [json.dumps(_row(1, "inc", "assert inc(1) == 2")),
             json.dumps(_row(2, "shout", "assert shout('a') is None")),          # passes against the stub
             '{"id": 3, "code": "x"',                                          # cut short
             json.dumps({"id": 4, "instruction": "x"}),
             json.dumps(_row(5, "inc2", "import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n"
                                        "        self.assertEqual(inc2(1), 2)\nunittest.main()\n", status="fail"))]
    src = tmp_path / "rows.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "dataset"
    assert main(["curate", str(src), "-o", str(out), "--set", "curate.decontaminate=false", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert f"{src}:3: not valid JSON (Expecting ',' delimiter at column 22)" in captured.err and f"{src}:4: field 'response'" in captured.err
    assert "5 rows -> 2 examples" in captured.out
    kept = [json.loads(line)["verdict_id"] for line in (out / "data.jsonl").read_text().splitlines()]
    assert sorted(kept) == ["1", "5"]                  # 5: its unittest tests were collected and passed
    reasons = {json.loads(line)["reason"] for line in (out / "dropped.jsonl").read_text().splitlines()}
    assert reasons == {"malformed", "tests:pass_stub"}
    assert (out / "README.md").exists() and (out / "config.toml").exists()


def test_a_runs_execute_file_and_bad_settings(tmp_path, capsys):
    verdict = Verdict(parent_id="resp1", seed_id="seed1", instruction_id="inst1",
                      instruction="Write inc(x) that returns x plus one, for any integer x.",
                      response="Solution:\n```python\ndef inc(x):\n    return x + 1\n```", solution="def inc(x):\n    return x + 1",
                      tests="assert inc(1) == 2", status="pass")
    src = tmp_path / "execute.jsonl"
    src.write_text(json.dumps(header("verdict")) + "\n" + json.dumps(verdict.to_dict()) + "\n")
    out = tmp_path / "ds"
    assert main(["curate", str(src), "-o", str(out), "--no-sandbox", "--no-progress",
                 "--set", "curate.decontaminate=false"]) == 0
    row = json.loads((out / "data.jsonl").read_text())
    assert (row["verdict_id"], row["response_id"], row["seed_id"]) == (verdict.id, "resp1", "seed1")
    assert main(["curate", str(src), "-o", str(out), "--set", "model.model=x"]) == 2
    assert main(["curate", str(src), "-o", str(out), "--set", "curate.policy=best"]) == 2
    assert "curate.policy must be one of passing, random, failing" in capsys.readouterr().err


def test_what_selfalign_execute_writes_for_a_runs_responses_file(tmp_path, capsys):
    """`selfalign execute runs/x/responses.jsonl -o v.jsonl` keeps each Response (``solution``,
    ``parent_id`` = the instruction) and adds ``exec``: curate reads that as it is."""
    from selfalign.records import Response

    answers = [Response(parent_id="inst1", seed_id="seed1", sample=i,
                        instruction="Write inc(x) that returns x plus one, for any integer x.",
                        response="Solution:\n```python\ndef inc(x):\n    return x + 1\n```",
                        solution="def inc(x):\n    return x + 1", tests="assert inc(1) == 2") for i in range(2)]
    src = tmp_path / "verdicts.jsonl"
    src.write_text("".join(json.dumps({**a.to_dict(), "exec": {"status": "pass"}}) + "\n" for a in answers))
    out = tmp_path / "ds"
    assert main(["curate", str(src), "-o", str(out), "--no-sandbox", "--no-progress",
                 "--set", "curate.decontaminate=false"]) == 0
    assert "2 rows -> 1 example in" in capsys.readouterr().out      # two answers to one instruction
    row = json.loads((out / "data.jsonl").read_text())
    assert row["response_id"] in {a.id for a in answers} and row["seed_id"] == "seed1"


def test_a_bundled_corpus_is_published_by_its_place_in_the_package_not_this_machines_path():
    """The dataset's seed_source (and its card) must not carry where this checkout happens to be."""
    from selfalign.curate.rows import seed_lineage
    from selfalign.records import Seed
    from selfalign.seeds.config import demo_corpus

    seeds = [Seed(source=demo_corpus(), path="Lib/heapq.py", content="def f(x):\n    return x", name="f",
                  start_line=3, end_line=4, license="PSF-2.0"),
             Seed(source="/data/my-repo", path="a.py", content="def g(x):\n    return x", name="g")]
    lineage = seed_lineage(seeds)
    assert lineage[seeds[0].id] == {"source": "<selfalign>/data/corpus/cpython-3.11.jsonl.gz",
                                    "path": "Lib/heapq.py:3-4", "license": "PSF-2.0"}
    assert lineage[seeds[1].id]["source"] == "/data/my-repo"        # a user's own source, as given
