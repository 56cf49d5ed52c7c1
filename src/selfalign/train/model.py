"""The base model and tokenizer to fine-tune: a local HF directory, a hub id, or a GGUF file.

A GGUF file (the embedded SmolLM2-135M by default) is loaded dequantized into a plain dense
model, the only form that can be trained; its quantization attributes are then cleared, so the
model saves as an ordinary safetensors checkpoint (transformers refuses to save a model that
still says it is GGUF-quantized). Dropout is set on the config and on every module, because
some models (StarCoder2) ship with dropout on and the recipe trains without it. With the
instruct template the tokenizer gets a chat template that renders exactly that template, so
``apply_chat_template`` users and llama.cpp's chat endpoint prompt the model as it was trained.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfalign.template import INSTRUCTION_HEADER, RESPONSE_HEADER, SYSTEM

TRAIN_INSTALL = "pip install 'selfalign[train]'"
DROPOUT_KEYS = ("attention_dropout", "hidden_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop",
                "residual_dropout", "embedding_dropout", "dropout", "activation_dropout")


class TrainError(RuntimeError):
    """Training cannot start or go on for a reason the user can act on."""


def require_train_deps() -> None:
    """Fail early, with the pip line, when the [train] extra is missing."""
    import importlib

    for module in ("torch", "transformers", "trl", "datasets", "accelerate"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise TrainError(f"training needs {module!r}, which is not installed: {TRAIN_INSTALL} "
                             f"({exc})") from None


@dataclass
class BaseModel:
    """Where the base model comes from: ``source`` for from_pretrained, plus the GGUF file name."""

    name: str
    source: str
    gguf_file: str | None = None
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.name, "gguf_file": self.gguf_file, "sha256": self.sha256}


def resolve_base(model: str | None) -> BaseModel:
    """The embedded GGUF when ``model`` is empty; a .gguf path; else a directory or hub id."""
    if not model:
        from selfalign.llm import embedded_model_path

        model = embedded_model_path()
    path = Path(model).expanduser()
    if model.endswith(".gguf"):
        if not path.is_file():
            raise TrainError(f"model file not found: {model}")
        return BaseModel(str(path), str(path.parent), path.name, _sha256(path))
    if model.startswith(("http://", "https://")):
        raise TrainError(f"{model} is a server URL; training needs the weights: a model directory, "
                         "a hub id or a GGUF file")
    if path.is_dir():
        return BaseModel(str(path), str(path))
    if model.startswith((".", "/", "~")):
        raise TrainError(f"model path not found: {model}")
    return BaseModel(model, model)   # a hub id


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_precision(precision: str) -> str:
    import torch

    if precision != "auto":
        return precision
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"


def load_tokenizer(base: BaseModel, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer, base, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def load_model(base: BaseModel, precision: str, dropout: float, attn_implementation: str = "",
               trust_remote_code: bool = False) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if precision == "bf16-pure" else torch.float32,
                              "trust_remote_code": trust_remote_code}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if base.gguf_file:
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    net = _from_pretrained(AutoModelForCausalLM, base, **kwargs)
    clear_quantization(net)
    set_dropout(net, dropout)
    net.config.use_cache = False
    return net


def _from_pretrained(auto: Any, base: BaseModel, **kwargs: Any) -> Any:
    if base.gguf_file:
        kwargs["gguf_file"] = base.gguf_file
    try:
        return auto.from_pretrained(base.source, **kwargs)
    except (OSError, ValueError, ImportError) as exc:
        where = "a local directory" if os.path.isdir(base.source) else "a hub id (is the hub reachable?)"
        raise TrainError(f"could not load {base.name!r} as {where}: {exc}") from None


def clear_quantization(net: Any) -> None:
    """Forget that a dequantized model came from a GGUF file, so it saves as a plain checkpoint."""
    quantizer = getattr(net, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(net)
    for holder in (net, net.config):
        for attr in ("quantization_config", "quantization_method"):
            if attr in vars(holder):
                delattr(holder, attr)
    net.is_quantized = False


def set_dropout(net: Any, p: float) -> None:
    import torch

    for key in DROPOUT_KEYS:
        if isinstance(getattr(net.config, key, None), float):
            setattr(net.config, key, p)
    for module in net.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p
        for key in DROPOUT_KEYS:
            if isinstance(vars(module).get(key), float):
                setattr(module, key, p)


def instruct_chat_template(adds_bos: bool, system: str = SYSTEM) -> str:
    """A Jinja chat template that renders the instruct template (docs/method.md)."""
    instruction = json.dumps(f"\n\n{INSTRUCTION_HEADER}\n")
    response = json.dumps(f"\n\n{RESPONSE_HEADER}\n")
    return ("{{- bos_token }}" if adds_bos else "") + (
        "{%- if messages[0]['role'] == 'system' %}{%- set system = messages[0]['content'] %}"
        "{%- set turns = messages[1:] %}{%- else %}{%- set system = " + json.dumps(system) + " %}"
        "{%- set turns = messages %}{%- endif %}{{- system }}"
        "{%- for m in turns %}"
        "{%- if m['role'] == 'user' %}{{- " + instruction + " + m['content'] }}"
        "{%- elif m['role'] == 'assistant' %}{{- " + response + " + m['content'] + eos_token }}{%- endif %}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- " + response + " }}{%- endif %}")
