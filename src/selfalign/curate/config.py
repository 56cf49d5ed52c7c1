"""The ``[curate]`` section: how passing responses become SFT examples."""

from __future__ import annotations

from dataclasses import dataclass

from selfalign.config import setting


@dataclass
class CurateConfig:
    max_instruction_words: int = setting("drop instructions longer than this", 200)
