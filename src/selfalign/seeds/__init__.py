"""Seed mining: docstring'd Python functions from any corpus, filtered, decontaminated and
deduplicated (stage 0 of the pipeline). ``mine_seeds(cfg, llm)`` is the whole stage."""

from __future__ import annotations

from .config import SeedsConfig
from .mine import mine_seeds

__all__ = ["SeedsConfig", "mine_seeds"]
