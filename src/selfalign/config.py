"""The config machinery: typed dataclass sections loaded from TOML, then ``key=value`` overrides.

Each library declares its own section as a dataclass whose fields carry their help text
(``setting(help, default)``), so ``selfalign config`` and the docs come from the same place as the
defaults; ``selfalign.settings.Config`` composes the sections of a run. This module knows no
section: it only loads, checks, overrides, prints and describes, so importing it is cheap.
Loading is strict: an unknown key or a wrong type fails with the file and the dotted key named,
before any work starts. ``parse_assignment`` is the one ``KEY=VALUE`` parser of every command.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import math
import tomllib
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override the user must fix; the message names the key."""


def setting(text: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING,
            added: bool = False) -> Any:
    """A dataclass field with its help text (shown by ``selfalign config``).

    ``added``: a setting that came after runs were already recorded. A section whose class uses
    ``section_repr`` leaves it out of its repr (and so out of the steps' config digests) while
    it has its default, so a run recorded before the setting existed still resumes."""
    metadata = {"help": text, "added": added}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def section_repr(self: Any) -> str:
    """A dataclass's own repr, without the ``added`` settings that hold their default (use as
    ``__repr__`` of a ``@dataclass(repr=False)`` section)."""
    shown = []
    for f in dataclasses.fields(self):
        value = getattr(self, f.name)
        if not f.repr or (f.metadata.get("added") and value == _default_of(f)):
            continue
        shown.append(f"{f.name}={value!r}")
    return f"{type(self).__qualname__}({', '.join(shown)})"


def _default_of(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:   # type: ignore[misc]
        return f.default_factory()                      # type: ignore[misc]
    return f.default


def load(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Defaults of ``cls``, then the TOML file (if any), then ``key.path=value`` overrides.
    An error names its source: the file, or the one ``--set KEY=VALUE`` that is wrong."""
    base: dict[str, Any] = read_toml(path) if path is not None else {}
    data = copy.deepcopy(base)
    for item in overrides or []:
        key, value = parse_assignment(item)
        assign(data, key, value, item)
    try:
        return build(cls, data, str(path) if path is not None else "defaults")
    except ConfigError:
        _raise_for_first_bad_source(cls, path, base, overrides or [])
        raise


def _raise_for_first_bad_source(cls: type, path: str | Path | None, data: dict[str, Any],
                                overrides: list[str]) -> None:
    """Build again source by source -- the file, then one override more each time -- so the
    error is labelled with the first source that breaks the config (each build is cheap)."""
    if path is not None:
        build(cls, copy.deepcopy(data), str(path))
    for item in overrides:
        key, value = parse_assignment(item)
        assign(data, key, value, item)
        build(cls, copy.deepcopy(data), f"--set {item}")


def read_toml(path: str | Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def parse_assignment(item: str, what: str = "section.key=value") -> tuple[str, Any]:
    """``key=value`` -> (key, value); the value is read as a TOML value when it is one
    (``3``, ``true``, ``"x"``, ``[1, 2]``, ``{a = 1}``), else kept as a bare string (``runs/x``)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{item!r} should look like {what}")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    return key.strip(), value


def toml_value(value: Any) -> str:
    """A Python value as TOML text (the inverse of ``parse_assignment``'s value), so a command's
    flag can travel as a ``--set`` override."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)   # a JSON string is a TOML basic string


def shortcut_overrides(values: dict[str, Any]) -> list[str]:
    """``key=value`` overrides for the command-line flags that were given ({dotted key: value},
    None meaning "not given"): a flag is a shortcut for one key, and the key's loader does the rest."""
    return [f"{key}={toml_value(value)}" for key, value in values.items() if value is not None]


def assign(data: dict[str, Any], key: str, value: Any, item: str = "") -> None:
    """Set dotted ``key`` in nested dict ``data``, creating tables on the way."""
    *parents, last = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item or key!r}: {part!r} is not a section")
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
        if len(args) == 2:
            return {k: _convert(args[1], v, where, f"{key}.{k}") for k, v in value.items()}
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()   # an unquoted TOML date: 2024-01-01
    if tp in (int, str, bool, float) and isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise _type_error(where, key, tp, value)


def _type_error(where: str, key: str, tp: Any, value: Any) -> ConfigError:
    name = getattr(tp, "__name__", str(tp))
    return ConfigError(f"{where}: {key} should be {name}, got {value!r} ({type(value).__name__})")


SECRET_KEYS = ("api_key", "token", "secret", "password")


def is_secret(key: str) -> bool:
    """A setting that holds a credential (``model.options.api_key``, ``hf_token``, ...)."""
    return key.lower().endswith(SECRET_KEYS)


def without_secrets(value: Any) -> Any:
    """``value`` (nested dicts and lists) without credential keys: what may be written to a run's
    files, which are shared (config.toml, manifest.json, report.html, a dataset card)."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if not is_secret(str(k))}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def to_toml(config: Any) -> str:
    """A resolved config (any section dataclass) as TOML (None values are left out: TOML has no
    null; credentials are left out: see ``without_secrets``)."""
    return tomli_w.dumps(_drop_none(without_secrets(dataclasses.asdict(config))))


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def describe(cls: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, help) for every setting; used by ``selfalign config`` and the docs."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            rows += describe(type(default), prefix + f.name + ".")
        else:
            rows.append((prefix + f.name, repr(default), f.metadata.get("help", "")))
    return rows
