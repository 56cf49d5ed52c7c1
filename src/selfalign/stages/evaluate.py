"""The evaluation steps: ``eval_base`` evaluates the run's model before any self-alignment,
``eval_trained`` the model the ``train`` step wrote, each on the ``[eval]`` benchmarks with the
same settings, into ``<run dir>/<step>/`` (samples, verdicts, results.json). ``eval_native``
evaluates the base model once more in its own chat template (the way model cards quote scores),
so the before/after report can hold the trained model against the base's better format and a
gain cannot be a formatting artefact.

``eval_base`` goes through the run's cached LLM; ``eval_trained`` loads the trained model (its
GGUF export on llama.cpp when there is one, the fastest CPU path; else its HF directory on
transformers) and caches in the same file, under that model's own fingerprint. Either way a
resumed step regenerates nothing, and the evaluation's own sample files resume a step killed
halfway. Off unless ``run.steps`` names them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from selfalign.stages.base import ArtifactStep
from selfalign.stages.context import RunContext

GGUF_PREFERENCE = ("q8_0", "f16", "bf16", "f32")


class BaseEvalStep(ArtifactStep):
    name = "eval_base"
    inputs = ()
    sections = ("model", "eval")

    def build(self, run: RunContext, out_dir: Path) -> dict[str, Any]:
        return evaluate(run, run.llm(), out_dir, self.name)


class NativeEvalStep(ArtifactStep):
    name = "eval_native"
    inputs = ()
    sections = ("model", "eval")

    def build(self, run: RunContext, out_dir: Path) -> dict[str, Any]:
        config = run.config.eval
        if config.generation.template == "native":
            return {"skipped": "eval_base already uses the model's own chat template "
                               "(eval.generation.template = 'native')"}
        if config.generation.base:
            return {"skipped": "eval.generation.base completes the benchmark's code prompt, not a chat turn"}
        llm = run.llm()
        if llm.chat_template() is None:
            return {"skipped": "the model has no chat template of its own"}
        native = dataclasses.replace(config, generation=dataclasses.replace(config.generation, template="native"))
        return evaluate(run, llm, out_dir, self.name, native)


class TrainedEvalStep(ArtifactStep):
    name = "eval_trained"
    inputs = ("train",)
    sections = ("model", "eval")

    def build(self, run: RunContext, out_dir: Path) -> dict[str, Any]:
        train_dir = run.run_dir / "train"
        card_path = train_dir / "selfalign.json"
        if not card_path.exists():
            from selfalign.evaluate.before_after import skipped_reason

            reason = skipped_reason(run.run_dir, "train") or "the train step wrote none"
            return {"skipped": f"no trained model: {reason}"}
        model, backend = trained_model(train_dir, json.loads(card_path.read_text(encoding="utf-8")))
        llm = trained_llm(run, model, backend)
        try:
            return {"model": str(model), "backend": backend, **evaluate(run, llm, out_dir, self.name)}
        finally:
            llm.close()


def evaluate(run: RunContext, llm: Any, out_dir: Path, step: str, config: Any = None) -> dict[str, Any]:
    from selfalign.evaluate.evaluate import run_eval

    config = dataclasses.replace(config or run.config.eval, output_dir=str(out_dir))
    results = run_eval(config, llm, run_info={"step": step})
    return {"results": "results.json", "scores": {r.benchmark: r.pass_at() for r in results}}


def trained_model(train_dir: Path, card: dict[str, Any]) -> tuple[Path, str]:
    """The trained model to serve: its preferred GGUF export, else the HF directory."""
    files = card.get("gguf", {}).get("files", {})
    for outtype in GGUF_PREFERENCE:
        if outtype in files and (train_dir / files[outtype]).is_file():
            return train_dir / files[outtype], "llamacpp"
    return train_dir, "transformers"


def trained_llm(run: RunContext, model: Path, backend: str) -> Any:
    """The trained model behind the run's cache; the run's backend options carry over when the
    base ran on the same backend (n_ctx, threads), else the backend's defaults."""
    from selfalign.cache import CachedLLM
    from selfalign.llm import load_llm, resolve_model

    m = run.config.model
    base_backend = m.backend or resolve_model(m.model or None)[0]
    llm = load_llm(str(model), backend, m.options if base_backend == backend else None)
    return CachedLLM(llm, run.run_dir / "cache.sqlite") if m.cache else llm

