"""Shared fixtures: the embedded model (loaded once per session) and paths to shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO.parent / "shared" / "data" / "benchmarks"


@pytest.fixture(scope="session")
def embedded_llm():
    from selfalign.llm import load_llm

    llm = load_llm(options={"n_ctx": 4096})
    yield llm
    llm.close()
