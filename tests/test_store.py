import json

import pytest

from selfalign.records import Example, Seed
from selfalign.store import (AtomicJsonl, InputError, count_rows, read_records, write_parquet,
                             write_records)


def _examples(n):
    return [Example(parent_id=f"p{i}", seed_id=f"s{i}", instruction_id=f"i{i}", response_id=f"r{i}",
                    instruction=f"task {i}", response=f"answer {i}", meta={"i": i}) for i in range(n)]


def test_jsonl_round_trip_with_header(tmp_path):
    path = tmp_path / "curate.jsonl"
    rows = _examples(3)
    assert write_records(path, "example", (r.to_dict() for r in rows)) == 3
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {"format": "selfalign", "kind": "example", "version": 2}
    assert list(read_records(path, "example")) == rows
    assert count_rows(path) == 3


def test_parquet_round_trip(tmp_path):
    path = tmp_path / "curate.parquet"
    rows = _examples(4)
    rows[0].response = '{"looks": "like json"}'
    write_parquet(path, [r.to_dict() for r in rows])
    assert list(read_records(path, "example")) == rows


def test_aborted_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "x.jsonl"
    write_records(path, "example", [_examples(1)[0].to_dict()])
    before = path.read_text()
    with pytest.raises(RuntimeError):
        with AtomicJsonl(path) as out:
            out.write({"a": 1})
            raise RuntimeError("killed")
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.jsonl"]


def test_bad_rows_name_file_line_and_field(tmp_path):
    path = tmp_path / "seeds.jsonl"
    good = Seed(content="def f(x):\n    return x").to_dict()
    path.write_text(json.dumps(good) + "\n" + "{not json\n")
    with pytest.raises(InputError, match=r"seeds\.jsonl:2: not valid JSON"):
        list(read_records(path, "seed"))
    # a line that stops short is blamed on its own end, not on "column 1" past its newline
    path.write_text(json.dumps(good) + "\n" + '{"content": "x"' + "\n")
    with pytest.raises(InputError, match=r"seeds\.jsonl:2: not valid JSON \(Expecting ',' delimiter at column 16\)"):
        list(read_records(path, "seed"))
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "start_line": "x"}) + "\n")
    with pytest.raises(InputError, match=r"seeds\.jsonl:3: field 'start_line'"):
        list(read_records(path, "seed"))


def test_wrong_kind_version_encoding_and_missing(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"format": "selfalign", "kind": "seed", "version": 2}) + "\n")
    with pytest.raises(InputError, match="holds 'seed' records, expected 'example'"):
        list(read_records(path, "example"))
    path.write_text(json.dumps({"format": "selfalign", "kind": "seed", "version": 1}) + "\n")
    with pytest.raises(InputError, match="format version 1, this selfalign reads version 2"):
        list(read_records(path, "seed"))
    path.write_bytes(b'{"content": "\xff\xfe"}\n')
    with pytest.raises(InputError, match="not UTF-8"):
        list(read_records(path, "seed"))
    with pytest.raises(InputError, match="file not found"):
        list(read_records(tmp_path / "missing.jsonl", "seed"))


def test_written_files_get_the_users_usual_permissions_not_private_ones(tmp_path):
    """mkstemp makes 0600 files; a run's outputs get 0666 less the umask, like any file."""
    import os
    import stat

    from selfalign.store import atomic_write_text

    umask = os.umask(0)
    os.umask(umask)
    atomic_write_text(tmp_path / "a.txt", "x")
    out = AtomicJsonl(tmp_path / "b.jsonl")
    out.commit()
    for name in ("a.txt", "b.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask
