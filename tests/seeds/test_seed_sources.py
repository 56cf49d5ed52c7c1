"""Every kind of source, and corpora full of broken files, through the real mine_seeds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter

import pytest

from selfalign.records import Dropped, Seed
from selfalign.seeds.config import SeedsConfig
from selfalign.seeds.mine import mine_seeds
from selfalign.seeds.sources import SourceError, iter_source

GOOD = 'import json\n\n\ndef parse(text):\n    """Parse a JSON document and return its "name" field."""\n    return json.loads(text)["name"]\n'
OTHER = 'def area(w, h):\n    """Return the area of a w by h rectangle."""\n    return w * h\n'


def mine(sources: list[str], **options) -> tuple[list[Seed], list[Dropped]]:
    cfg = SeedsConfig(sources=sources, typecheck=False, decontaminate=False, workers=2, **options)
    items = list(mine_seeds(cfg, progress=False))
    return [i for i in items if isinstance(i, Seed)], [i for i in items if isinstance(i, Dropped)]


def test_broken_files_are_reported_and_the_rest_is_mined(tmp_path):
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "syntax.py").write_text("def f(:\n    pass\n")
    (tmp_path / "latin1.py").write_bytes('def f(x):\n    """Caf\xe9."""\n    return x\n'.encode("latin-1"))
    (tmp_path / "junk.py").write_bytes(os.urandom(4096) + b"\0")
    (tmp_path / "nested.py").write_text("x = " + "(" * 5000 + ")" * 5000 + "\n")
    with open(tmp_path / "huge.py", "wb") as handle:       # 50 MB of otherwise valid code
        handle.write((OTHER * 1000).encode() * 620)
    assert (tmp_path / "huge.py").stat().st_size > 50_000_000
    seeds, drops = mine([str(tmp_path)])
    assert [s.name for s in seeds] == ["parse"]
    by_path = {d.record["path"]: d.reason for d in drops}
    assert by_path["syntax.py"] == "file:syntax_error"
    assert by_path["latin1.py"] == "file:not_utf8"
    assert by_path["junk.py"] == "file:binary"
    assert by_path["huge.py"] == "file:too_large"
    assert by_path["nested.py"] in ("file:syntax_error", "file:parse_error")


def test_seed_provenance_from_a_directory(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("\n\n" + OTHER)
    (tmp_path / "LICENSE").write_text("MIT License\n\nCopyright ...\n")
    (seed,), _ = mine([str(tmp_path)])
    assert (seed.source, seed.path, seed.start_line, seed.end_line) == (str(tmp_path), "pkg/m.py", 3, 5)
    assert seed.license == "MIT License"
    assert seed.content == OTHER


def test_jsonl_and_parquet_tables_carry_stack_columns(tmp_path):
    rows = [{"content": GOOD, "max_stars_repo_path": "a/b.py", "max_stars_repo_licenses": ["MIT"],
             "max_stars_repo_name": "someone/repo"},
            {"content": "def broken(:", "max_stars_repo_path": "c.py"},
            {"nothing": 1}]
    jsonl = tmp_path / "shard.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pylist(rows[:2]), tmp_path / "shard.parquet")
    for path in (jsonl, tmp_path / "shard.parquet"):
        (seed,), drops = mine([str(path)], exact_dedup=False)
        assert (seed.path, seed.license, seed.start_line) == ("a/b.py", "MIT", 4)
        assert seed.meta["max_stars_repo_name"] == "someone/repo"
        assert "file:syntax_error" in {d.reason for d in drops}
    _, drops = mine([str(jsonl)])
    assert Counter(d.reason for d in drops)["file:bad_row"] == 1
    assert Counter(d.reason for d in drops)["file:no_text"] == 1


def test_parquet_without_the_text_column_names_it(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pylist([{"code": GOOD}]), tmp_path / "t.parquet")
    with pytest.raises(SourceError, match="no column 'content'.*code"):
        mine([str(tmp_path / "t.parquet")])
    (seed,), _ = mine([str(tmp_path / "t.parquet")], text_column="code")
    assert seed.name == "parse"


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_repository_working_tree_and_revision(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "m.py").write_text(OTHER)
    subprocess.run(git + ["add", "m.py"], check=True)
    subprocess.run(git + ["commit", "-qm", "one"], check=True)
    (repo / "m.py").write_text(GOOD)          # working tree differs from HEAD
    (head,), _ = mine([f"{repo}@HEAD"])
    (tree,), _ = mine([str(repo)])
    assert (head.name, head.meta["revision"], tree.name) == ("area", "HEAD", "parse")
    with pytest.raises(SourceError, match="git cannot list"):
        mine([f"{repo}@no-such-rev"])


def test_unknown_source_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="not a directory"):
        list(iter_source(str(tmp_path / "missing.txt"), SeedsConfig()))
