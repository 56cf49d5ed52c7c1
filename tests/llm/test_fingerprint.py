"""Fingerprints of GGUF files (small synthetic ones written with the gguf package, and the
embedded model), model directories and hub ids."""

from __future__ import annotations

import os

import pytest

from selfalign.llm import fingerprint as fp
from selfalign.llm.base import LLMError
from selfalign.llm.fingerprint import (directory_fingerprint, gguf_fingerprint, gguf_header_size,
                                       model_fingerprint)

gguf = pytest.importorskip("gguf", reason="needs the gguf package (the [transformers] extra)")
np = pytest.importorskip("numpy")


def write_gguf(path, name: str = "tiny", weights: float = 1.0, vocab=("a", "b", "c")) -> None:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_token_list(list(vocab))
    writer.add_array("test.numbers", [1, 2, 3])
    writer.add_tensor("token_embd.weight", np.full((len(vocab), 8), weights, dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight", np.arange(64, dtype=np.float32).reshape(8, 8))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_header_ends_where_the_gguf_package_puts_the_data(tmp_path):
    path = tmp_path / "m.gguf"
    write_gguf(path)
    reader = gguf.GGUFReader(str(path))
    end = gguf_header_size(path)
    assert end <= reader.data_offset < end + reader.alignment   # only padding in between


def test_header_of_the_embedded_model():
    from selfalign.llm import LLMError as Missing, embedded_model_path
    try:
        path = embedded_model_path()
    except Missing:
        pytest.skip("embedded model not installed")
    assert gguf_header_size(path) == gguf.GGUFReader(path).data_offset
    assert gguf_fingerprint(path) == gguf_fingerprint(path)


def test_same_file_moved_keeps_its_fingerprint(tmp_path):
    path = tmp_path / "m.gguf"
    write_gguf(path)
    before = gguf_fingerprint(path)
    moved = tmp_path / "elsewhere.gguf"
    os.rename(path, moved)                   # keeps the mtime: the same model, another path
    assert gguf_fingerprint(moved) == before and before.startswith("gguf:")


def test_rewritten_file_at_the_same_path_is_another_model(tmp_path):
    path = tmp_path / "m.gguf"
    write_gguf(path, weights=1.0)
    before = gguf_fingerprint(path)
    stat = os.stat(path)
    write_gguf(path, weights=2.0)            # same header and size, new weights: a re-export
    assert os.stat(path).st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert gguf_fingerprint(path) != before
    # Other metadata, forced to the same size and mtime: the header hash tells them apart.
    write_gguf(path, name="tinz")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(path).st_size == stat.st_size and gguf_fingerprint(path) != before


def test_not_a_gguf_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(LLMError, match="not a GGUF file"):
        gguf_fingerprint(bad)
    good = tmp_path / "m.gguf"
    write_gguf(good)
    bad.write_bytes(good.read_bytes()[:60])   # cut inside the metadata
    with pytest.raises(LLMError, match="unreadable GGUF header"):
        gguf_fingerprint(bad)


def test_directory_fingerprint_reads_small_files_and_stats_large_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(fp, "SMALL_FILE", 1000)
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    (tmp_path / "tokenizer.json").write_text('{"vocab": ["a"]}')
    (tmp_path / "model.safetensors").write_bytes(b"\1" * 5000)
    (tmp_path / ".lock").write_text("x")
    (tmp_path / "sub").mkdir()
    before = directory_fingerprint(tmp_path)
    (tmp_path / ".lock").write_text("changed")           # hidden: not part of the model
    (tmp_path / "sub" / "x").write_text("changed")       # subdirectories neither
    assert directory_fingerprint(tmp_path) == before
    (tmp_path / "tokenizer.json").write_text('{"vocab": ["b"]}')
    assert directory_fingerprint(tmp_path) != before
    (tmp_path / "tokenizer.json").write_text('{"vocab": ["a"]}')
    assert directory_fingerprint(tmp_path) == before     # small files: by content
    weights = tmp_path / "model.safetensors"
    stat = weights.stat()
    weights.write_bytes(b"\2" * 5000)                    # large: size, mtime and first MiB
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert directory_fingerprint(tmp_path) != before


def test_model_fingerprint_picks_the_kind(tmp_path):
    write_gguf(tmp_path / "m.gguf")
    assert model_fingerprint(str(tmp_path / "m.gguf")) == gguf_fingerprint(tmp_path / "m.gguf")
    assert model_fingerprint(str(tmp_path), "m.gguf") == gguf_fingerprint(tmp_path / "m.gguf")
    assert model_fingerprint(str(tmp_path)).startswith("dir:")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LLMError, match="no files"):
        model_fingerprint(str(tmp_path / "empty"))
    # An id that is not in the local hub cache: named by the id alone, stably.
    hub = model_fingerprint("no-such-org/no-such-model-selfalign")
    assert hub.startswith("hub:") and hub == model_fingerprint("no-such-org/no-such-model-selfalign")


def test_hub_id_is_named_by_its_local_snapshot(tmp_path, monkeypatch):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "models--org--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("c0ffee")
    snapshot = repo / "snapshots" / "c0ffee"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text('{"hidden_size": 8}')
    before = model_fingerprint("org/tiny")
    assert before.startswith("hub:") and before != model_fingerprint("org/other")
    (snapshot / "config.json").write_text('{"hidden_size": 16}')
    assert model_fingerprint("org/tiny") != before
