"""The few-shot example pool and system texts, loaded from the TOML data files in ``prompts/``.

The examples live in data files, not code, so they can be reviewed, extended or replaced (a user's
own pool directory works the same way). Each example carries every field the three prompts need
(seed, concepts, properties, instruction, response), so one pool serves S->C, C->I and I->R.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

CATEGORIES = ("function", "class", "program")
DIFFICULTIES = ("easy", "medium", "hard")
FIELDS = ("category", "difficulty", "language", "seed", "concepts", "instruction", "response")


class PoolError(ValueError):
    """A pool file that does not have the fields the prompts need."""


@dataclass(frozen=True)
class Example:
    name: str
    category: str
    difficulty: str
    language: str
    seed: str
    concepts: tuple[str, ...]
    instruction: str
    response: str


@dataclass(frozen=True)
class Pool:
    examples: tuple[Example, ...]
    system: dict[str, str]


def default_pool_dir() -> Path:
    return Path(str(resources.files("selfalign") / "prompts"))


@lru_cache(maxsize=4)
def load_pool(directory: str | None = None) -> Pool:
    root = Path(directory) if directory else default_pool_dir()
    system = _load_toml(root / "system.toml")
    for key in ("concepts", "instructions", "responses"):
        if not isinstance(system.get(key), str):
            raise PoolError(f"{root / 'system.toml'}: missing text field {key!r}")
    files = sorted((root / "examples").glob("*.toml"))
    if not files:
        raise PoolError(f"{root / 'examples'}: no example files (*.toml)")
    return Pool(tuple(_load_example(path) for path in files), {k: v.strip() for k, v in system.items()})


def _load_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PoolError(f"pool file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PoolError(f"{path}: not valid TOML: {exc}") from None


def _load_example(path: Path) -> Example:
    data = _load_toml(path)
    missing = [f for f in FIELDS if f not in data]
    if missing:
        raise PoolError(f"{path}: missing field(s) {', '.join(missing)}")
    if data["category"] not in CATEGORIES:
        raise PoolError(f"{path}: category {data['category']!r} is not one of {CATEGORIES}")
    if data["difficulty"] not in DIFFICULTIES:
        raise PoolError(f"{path}: difficulty {data['difficulty']!r} is not one of {DIFFICULTIES}")
    if not isinstance(data["concepts"], list) or not data["concepts"]:
        raise PoolError(f"{path}: concepts should be a non-empty list of strings")
    return Example(name=path.stem, category=data["category"], difficulty=data["difficulty"],
                   language=data["language"], seed=data["seed"].strip("\n"),
                   concepts=tuple(data["concepts"]), instruction=data["instruction"].strip(),
                   response=data["response"].strip())
