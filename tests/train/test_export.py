"""Getting llama.cpp's converter out of the llama-cpp-python sdist (the download itself is pip's)."""

from __future__ import annotations

import io
import tarfile

import pytest

from selfalign.train import export


def fake_sdist(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_only_the_converter_files_are_kept(tmp_path):
    root = "llama_cpp_python-9.9/vendor/llama.cpp/"
    sdist = fake_sdist(tmp_path / "s.tar.gz", {
        root + "convert_hf_to_gguf.py": b"print('convert')", root + "conversion/__init__.py": b"",
        root + "gguf-py/gguf/__init__.py": b"", root + "LICENSE": b"MIT",
        root + "src/llama.cpp": b"int main;", "llama_cpp_python-9.9/setup.py": b"",
        root + "../../../../escape.py": b"bad"})
    export.extract_converter(sdist, tmp_path / "conv")
    files = sorted(str(p.relative_to(tmp_path / "conv")) for p in (tmp_path / "conv").rglob("*") if p.is_file())
    assert files == ["LICENSE", "conversion/__init__.py", "convert_hf_to_gguf.py", "gguf-py/gguf/__init__.py"]
    assert not (tmp_path / "escape.py").exists()


def test_an_sdist_without_the_converter_is_an_error(tmp_path):
    sdist = fake_sdist(tmp_path / "s.tar.gz", {"llama_cpp_python-9.9/setup.py": b""})
    with pytest.raises(export.ExportError, match="no vendor/llama.cpp/convert_hf_to_gguf.py"):
        export.extract_converter(sdist, tmp_path / "conv")
    assert not (tmp_path / "conv").exists()


def test_the_environment_variable_must_point_at_a_converter(tmp_path, monkeypatch):
    monkeypatch.setenv(export.CONVERTER_ENV, str(tmp_path))
    with pytest.raises(export.ExportError, match="holds no convert_hf_to_gguf.py"):
        export.converter_dir()
    (tmp_path / export.CONVERTER).write_text("")
    assert export.converter_dir() == tmp_path
