"""Fine-tuning: the same model that wrote the data learns from what passed (docs/training.md).

``train(data, out_dir, cfg, model)`` runs one resumable job (``job.py``): rows read and tokenized
the way inference tokenizes them (``data.py``), the template self-check (``checks.py``), TRL's
SFTTrainer with checkpoints that survive kill -9 (``sft.py``), verified packing (``packing.py``),
an HF directory with tokenizer, chat template and ``selfalign.json``, and GGUF exports checked
against it (``export.py``). Importing this package loads no torch; ``TrainConfig`` is the
``[train]`` section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfalign.train.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def train(data_path: str | Path, out_dir: str | Path, cfg: TrainConfig | None = None, model: str | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Fine-tune ``model`` (default: the embedded SmolLM2-135M) on ``data_path`` into ``out_dir``;
    returns the summary written to ``out_dir/selfalign.json``. Rerun after a kill to resume."""
    from selfalign.train.job import train as run_job

    return run_job(data_path, out_dir, cfg or TrainConfig(), model, progress)
