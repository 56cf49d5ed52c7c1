"""The loss curve: ``loss.json`` (every logged step, train and eval) and ``loss.png``.

Both are rebuilt from the trainer's log history, which checkpoints carry, so a resumed run's curve
covers the steps before the kill too. The PNG needs matplotlib (in the ``[train]`` extra); without
it only the JSON is written and the summary says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfalign.store import atomic_write_text


def curve_from_history(history: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    train = [{"step": h["step"], "epoch": h.get("epoch"), "loss": h["loss"],
              "learning_rate": h.get("learning_rate"), "tokens": h.get("num_tokens")}
             for h in history if "loss" in h and "step" in h]
    evals = [{"step": h["step"], "epoch": h.get("epoch"), "loss": h["eval_loss"]}
             for h in history if "eval_loss" in h and "step" in h]
    return {"format": "selfalign-loss-curve", "version": 1, "train": train, "eval": evals}


def write_curve(history: list[dict[str, Any]], out_dir: Path, png: bool = True) -> dict[str, str]:
    """Write loss.json (and loss.png when matplotlib is there); return the files written."""
    curve = curve_from_history(history)
    atomic_write_text(out_dir / "loss.json", json.dumps(curve, indent=1) + "\n")
    files = {"json": "loss.json"}
    if png and curve["train"] and _plot(curve, out_dir / "loss.png"):
        files["png"] = "loss.png"
    return files


def _plot(curve: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot([p["step"] for p in curve["train"]], [p["loss"] for p in curve["train"]], label="train")
    if curve["eval"]:
        ax.plot([p["step"] for p in curve["eval"]], [p["loss"] for p in curve["eval"]], "o-", label="eval (held out)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss per response token")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return True
