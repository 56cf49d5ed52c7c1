"""Typed configuration: one TOML file, then ``section.key=value`` overrides from the command line.

Every section is a dataclass whose fields carry their help text, so ``selfalign config --show``
and the docs come from the same place as the defaults. Loading is strict: an unknown key or a
wrong type fails with the file and the dotted key named, before any work starts. The defaults run
the demo; the resolved config is written beside the outputs so a run can be reproduced exactly.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from selfalign.seeds import SeedsConfig


class ConfigError(ValueError):
    """A config file or override the user must fix; the message names the key."""


def _help(text: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING) -> Any:
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"help": text})
    return field(default=default, metadata={"help": text})


@dataclass
class RunConfig:
    dir: str = _help("run directory: outputs, manifest, cache", "runs/demo")
    seed: int = _help("global seed; item i of a stage draws from seed + i", 0)
    limit: int = _help("how many seeds go on to generation (0 = all)", 12)
    chunk_size: int = _help("items per committed chunk: a kill loses at most one chunk's "
                            "unfinished work (finished LLM calls are cached); a server backend "
                            "runs a chunk's requests concurrently, so raise it there (e.g. 256)", 4)
    parquet: bool = _help("also write each stage's kept records as <stage>.parquet", False)


@dataclass
class ModelConfig:
    model: str = _help("GGUF file, model directory, hub id or server URL; empty = the embedded "
                       "SmolLM2-135M-Instruct", "")
    backend: str = _help("llamacpp | transformers | openai | vllm; empty = chosen from model", "")
    options: dict[str, Any] = _help("backend options, e.g. n_ctx for llamacpp", factory=dict)
    cache: bool = _help("cache every LLM call in <run dir>/cache.sqlite", True)


@dataclass
class ConceptsConfig:
    fewshot: int = _help("examples shown per prompt", 8)
    temperature: float = _help("sampling temperature", 0.7)
    max_tokens: int = _help("new tokens per answer; longer answers are dropped as truncated", 96)


@dataclass
class InstructionsConfig:
    fewshot: int = _help("examples shown per prompt", 8)
    temperature: float = _help("sampling temperature", 0.7)
    max_tokens: int = _help("new tokens per answer; longer answers are dropped as truncated", 384)
    categories: list[str] = _help("task categories to sample from",
                                  factory=lambda: ["function", "class", "program"])
    difficulties: list[str] = _help("difficulties to sample from",
                                    factory=lambda: ["easy", "medium", "hard"])


@dataclass
class ResponsesConfig:
    fewshot: int = _help("examples shown per prompt", 1)
    n: int = _help("responses sampled per instruction", 2)
    temperature: float = _help("sampling temperature", 0.7)
    max_tokens: int = _help("new tokens per answer; longer answers are dropped as truncated", 768)


@dataclass
class ExecuteConfig:
    timeout_s: float = _help("wall-clock limit per program, seconds", 10.0)
    memory_mb: int = _help("address-space limit per program, MiB", 4096)
    workers: int = _help("parallel sandbox workers; 0 = one per core", 0)


@dataclass
class CurateConfig:
    max_instruction_words: int = _help("drop instructions longer than this", 200)


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    seeds: SeedsConfig = field(default_factory=SeedsConfig)
    concepts: ConceptsConfig = field(default_factory=ConceptsConfig)
    instructions: InstructionsConfig = field(default_factory=InstructionsConfig)
    responses: ResponsesConfig = field(default_factory=ResponsesConfig)
    execute: ExecuteConfig = field(default_factory=ExecuteConfig)
    curate: CurateConfig = field(default_factory=CurateConfig)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the TOML file (if any), then ``key.path=value`` overrides."""
    data: dict[str, Any] = {}
    where = "defaults"
    if path is not None:
        where = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for item in overrides or []:
        _apply_override(data, item)
    return build(Config, data, where)


def _apply_override(data: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} should look like section.key=value")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text  # bare words are strings: run.dir=runs/x
    *parents, last = key.strip().split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part!r} is not a section")
    node[last] = value


def build(cls: type, data: Any, where: str, prefix: str = "") -> Any:
    """Construct dataclass ``cls`` from ``data``, checking keys and types; errors name the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: [{prefix.rstrip('.') or 'top level'}] should be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {prefix}{unknown[0]} "
                          f"(known in this section: {', '.join(sorted(fields))})")
    kwargs = {name: _convert(hints[name], value, where, prefix + name) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a section's own range checks (__post_init__)
        raise ConfigError(f"{where}: {exc}") from None


def _convert(tp: Any, value: Any, where: str, key: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where, key + ".")
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where, key)
            except ConfigError:
                pass
        raise _type_error(where, key, tp, value)
    if origin is list:
        if not isinstance(value, list):
            raise _type_error(where, key, tp, value)
        return [_convert(args[0], v, where, f"{key}[{i}]") for i, v in enumerate(value)] if args else value
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(where, key, tp, value)
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool, float) and isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise _type_error(where, key, tp, value)


def _type_error(where: str, key: str, tp: Any, value: Any) -> ConfigError:
    name = getattr(tp, "__name__", str(tp))
    return ConfigError(f"{where}: {key} should be {name}, got {value!r} ({type(value).__name__})")


def to_toml(config: Config) -> str:
    """The resolved config as TOML (None values are left out: TOML has no null)."""
    return tomli_w.dumps(_drop_none(dataclasses.asdict(config)))


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def describe(cls: type = Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, help) for every setting; used by ``selfalign config`` and the docs."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            rows += describe(type(default), prefix + f.name + ".")
        else:
            rows.append((prefix + f.name, repr(default), f.metadata.get("help", "")))
    return rows
