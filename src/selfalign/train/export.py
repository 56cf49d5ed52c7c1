"""GGUF export with llama.cpp's own converter, and the check that the GGUF answers like the HF model.

The converter (``convert_hf_to_gguf.py`` with its ``conversion/`` and ``gguf-py/`` packages) is the
one every llama.cpp release ships; it knows each architecture's tensor layout and tokenizer
quirks, which a converter of our own would have to chase. It is not on PyPI as a module, but it
is inside the llama-cpp-python source distribution, so it is fetched once, for the exact
llama-cpp-python version installed (the converter and the runtime that loads its files then
agree), with ``pip download --no-binary :all:`` into ``~/.cache/selfalign`` (or
``$SELFALIGN_CACHE_DIR``). ``SELFALIGN_LLAMA_CPP_DIR`` points at a llama.cpp checkout instead,
for machines without an index. It runs in a subprocess: its imports and memory stay out of ours.

``compare_greedy`` then generates greedily from the same prompts with the transformers backend on
the HF directory and the llama.cpp backend on each GGUF, the two backends ``selfalign respond``
uses, and reports how many answers are identical and how long their common prefixes are.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from selfalign.llm import LLM, Request, SamplingParams, load_llm
from selfalign.template import STOP

CONVERTER_ENV = "SELFALIGN_LLAMA_CPP_DIR"
CONVERTER = "convert_hf_to_gguf.py"
MEMBERS = (CONVERTER, "conversion/", "gguf-py/", "LICENSE")
VENDOR = "/vendor/llama.cpp/"


class ExportError(RuntimeError):
    """The GGUF export could not be done; the message says how to get the converter."""


def cache_root() -> Path:
    return Path(os.environ.get("SELFALIGN_CACHE_DIR") or Path.home() / ".cache" / "selfalign")


def llama_cpp_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        raise ExportError("llama-cpp-python is not installed, so there is no converter version to "
                          "match: pip install llama-cpp-python") from None


def converter_dir() -> Path:
    """A directory holding llama.cpp's converter: $SELFALIGN_LLAMA_CPP_DIR, the cache, or fetched."""
    env = os.environ.get(CONVERTER_ENV)
    if env:
        if not (Path(env) / CONVERTER).is_file():
            raise ExportError(f"{CONVERTER_ENV}={env} holds no {CONVERTER}")
        return Path(env)
    version = llama_cpp_version()
    target = cache_root() / f"llama.cpp-converter-{version}"
    if not (target / CONVERTER).is_file():
        fetch_converter(version, target)
    return target


def fetch_converter(version: str, target: Path) -> None:
    """Download llama-cpp-python's sdist with pip and keep only the converter's files."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               f"llama-cpp-python=={version}", "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        sdists = list(Path(tmp).glob("*.tar.gz"))
        if proc.returncode != 0 or not sdists:
            raise ExportError(f"could not download llama.cpp's converter (llama-cpp-python {version} "
                              f"sdist): {proc.stderr.strip()[-400:]}\nrun `{' '.join(cmd)}` by hand, or set "
                              f"{CONVERTER_ENV} to a llama.cpp checkout, or set train.gguf = []")
        extract_converter(sdists[0], target)


def extract_converter(sdist: Path, target: Path) -> None:
    """Unpack the converter's files from ``vendor/llama.cpp/`` of the sdist into ``target``."""
    staging = Path(tempfile.mkdtemp(dir=_mkdir(target.parent), prefix=".converter-"))
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            _, _, rel = member.name.partition(VENDOR)
            if rel and rel.startswith(MEMBERS) and (member.isfile() or member.isdir()):
                member.name = rel
                tar.extract(member, staging, filter="data")   # "data" refuses paths that leave staging
    if not (staging / CONVERTER).is_file():
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(f"{sdist.name} has no vendor/llama.cpp/{CONVERTER}")
    if target.exists():
        shutil.rmtree(staging)   # another process fetched it meanwhile
    else:
        os.replace(staging, target)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_gguf(model_dir: str | Path, out_path: str | Path, outtype: str) -> Path:
    """Convert the HF directory to one GGUF file (``outtype`` f16, q8_0, bf16 or f32), atomically."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    cmd = [sys.executable, str(converter_dir() / CONVERTER), str(model_dir), "--outfile", str(tmp),
           "--outtype", outtype]
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}   # use the converter's gguf-py
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-12:])
        raise ExportError(f"llama.cpp's converter failed on {model_dir} ({outtype}):\n{tail}")
    os.replace(tmp, out_path)
    return out_path


def greedy_texts(llm: LLM, prompts: list[str], max_tokens: int) -> list[str]:
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, stop=(STOP,))
    return [r.completions[0].text for r in llm.generate([Request(p, params) for p in prompts])]


def compare_greedy(model_dir: str | Path, ggufs: dict[str, Path], prompts: list[str],
                   max_tokens: int = 48) -> dict[str, Any]:
    """Greedy answers of the HF directory (transformers) and of each GGUF (llama.cpp), compared."""
    if not prompts or not ggufs:
        return {}
    hf = load_llm(str(model_dir), "transformers")
    try:
        reference = greedy_texts(hf, prompts, max_tokens)
    finally:
        hf.close()
    report: dict[str, Any] = {"prompts": len(prompts), "max_tokens": max_tokens, "hf": reference}
    for name, path in ggufs.items():
        llm = load_llm(str(path), "llamacpp", {"n_ctx": 4096})
        try:
            texts = greedy_texts(llm, prompts, max_tokens)
        finally:
            llm.close()
        prefixes = [len(os.path.commonprefix([a, b])) for a, b in zip(reference, texts)]
        report[name] = {"identical": sum(a == b for a, b in zip(reference, texts)), "of": len(prompts),
                        "common_prefix_chars": prefixes, "lengths": [len(t) for t in texts], "texts": texts}
    return report
