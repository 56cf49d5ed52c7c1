"""The README's measured figures are what the kept bench outputs say (bench/figures.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_readme_figures_are_regenerated_from_bench_results():
    done = subprocess.run([sys.executable, str(REPO / "bench" / "figures.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
