"""GGUF models through llama-cpp-python: the default backend on a CPU.

By default (``parallel = 1``) ``generate`` is a plain loop, one sequence at a time through the
binding's ``create_completion``; the model is loaded once per backend object and kept; ``n``
samples of one request use seeds ``seed + i`` so each sample is reproducible on its own. With
``parallel`` > 1 (opt-in: 1.3-1.4x at 8 sequences on a 2-core CPU, docs/backends.md) requests go through
``llamacpp_batch.BatchDecoder`` instead: several sequences per llama.cpp batch, one prompt
evaluation shared by a request's samples; a sample's text then depends on the batch it was
decoded in, so ``parallel`` is part of the identity unless it is 1. Every sampling filter is
passed explicitly (top_k 0 and min_p 0 unless the request sets them): llama-cpp-python would
otherwise apply its own top_k=40 and min_p=0.05, which no other backend does.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from selfalign.llm.base import (BackendOptions, Completion, LLM, LLMError, Request, Result, require,
                                speed_only)
from selfalign.llm.chat import render_template, strip_bos
from selfalign.llm.fingerprint import gguf_fingerprint

# llama.cpp's OpenMP threads spin while they wait for each other. Spinning forever (the default)
# collapses throughput when anything else wants the cores; never spinning costs a third when idle.
# A short spin before sleeping got the best of both in our measurements (8 x 64 tokens, 2 threads,
# tok/s idle / with two busy processes): default 59 / 14, passive 40 / 24, this 57 / 26.
# Must be set before libgomp loads; a user's own settings win.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "30000")


@dataclass
class LlamaCppOptions(BackendOptions):
    n_ctx: int = field(default=8192, metadata={"help": "context window in tokens (prompt + answer)"})
    n_threads: int = field(default=0, metadata=speed_only("CPU threads; 0 = one per core"))
    n_batch: int = field(default=512, metadata=speed_only("prompt tokens evaluated per step"))
    n_gpu_layers: int = field(default=0, metadata={"help": "layers to offload to a GPU build of llama.cpp"})
    parallel: int = field(default=1, metadata={"help": (
        "sequences decoded together in one llama.cpp batch (one prompt evaluation per request); "
        "1 = one at a time (the loop path); outputs depend on the batch when > 1")})

    def output_options(self) -> dict[str, Any]:
        # parallel = 1 is the loop path that existed before the option: same key, same outputs.
        options = super().output_options()
        if options.get("parallel") == 1:
            del options["parallel"]
        return options


class LlamaCppLLM(LLM):
    backend = "llamacpp"
    Options = LlamaCppOptions

    def __init__(self, model: str, options: LlamaCppOptions | None = None) -> None:
        super().__init__(model, options)
        path = Path(model)
        if not path.is_file():
            raise LLMError(f"GGUF model file not found: {model}")
        llama_cpp = require("llama_cpp", "llamacpp")
        self._fingerprint = gguf_fingerprint(path)   # before loading: what is loaded is this file
        opts = self.options
        if opts.parallel < 1:
            raise LLMError(f"[model.options] parallel must be at least 1, not {opts.parallel}")
        threads = opts.n_threads or os.cpu_count() or 1
        # llama.cpp prints its load log straight to fd 2; keep the terminal readable.
        with _quiet_stderr():
            try:
                self._llama = llama_cpp.Llama(
                    model_path=str(path), n_ctx=opts.n_ctx, n_threads=threads,
                    n_batch=opts.n_batch, n_gpu_layers=opts.n_gpu_layers, verbose=False)
            except ValueError as exc:
                raise LLMError(f"llama.cpp could not load {model}: {exc}") from None
        self.n_ctx = self._llama.n_ctx()
        self._decoder = None            # the batched path's own context, made on first use
        self.batched = opts.parallel > 1

    @classmethod
    def suggested_chunk_size(cls, options: dict[str, Any], model: str = "") -> int:
        # One item takes seconds on a CPU, so a chunk stays small; with batched decoding it
        # holds at least as many requests as there are sequence slots to fill.
        return max(cls.chunk_size, int(options.get("parallel", 1)))

    def fingerprint(self) -> str:
        return self._fingerprint

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        if self.options.parallel > 1:   # every request, so one setting gives one kind of output
            if self._decoder is None:
                from selfalign.llm.llamacpp_batch import BatchDecoder
                with _quiet_stderr():
                    self._decoder = BatchDecoder(self._llama, self.options.parallel)
            before = self._decoder.prompt_evaluated
            try:
                return self._decoder.generate(requests)
            finally:
                self.prompt_evaluated += self._decoder.prompt_evaluated - before
        return [Result([self._sample(r, i) for i in range(r.params.n)]) for r in requests]

    def chat_template(self) -> str | None:
        """The template stored in the GGUF file (``tokenizer.chat_template``), if any."""
        return self._llama.metadata.get("tokenizer.chat_template") or None

    def _render_chat(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        model = self._llama._model
        bos, eos = self._llama.token_bos(), self._llama.token_eos()
        bos_text = model.token_get_text(bos) if bos != -1 else ""
        eos_text = model.token_get_text(eos) if eos != -1 else ""
        text = render_template(self.chat_template() or "", messages, bos_text, eos_text,
                               add_generation_prompt)
        return strip_bos(text, bos_text, model.add_bos_token())   # _sample adds BOS if due

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=True))

    def _sample(self, request: Request, index: int) -> Completion:
        p = request.params
        prompt_tokens = self._llama.tokenize(request.prompt.encode("utf-8"), add_bos=True, special=True)
        budget = self.n_ctx - len(prompt_tokens)
        if budget < 1:
            raise LLMError(f"prompt of {len(prompt_tokens)} tokens does not fit the context window "
                           f"of {self.n_ctx} (set [model.options] n_ctx)")
        kwargs: dict[str, Any] = dict(
            max_tokens=min(p.max_tokens, budget), temperature=p.temperature, top_p=p.top_p,
            top_k=p.top_k, min_p=p.min_p, stop=list(p.stop) or None)
        if p.seed is not None:
            kwargs["seed"] = p.seed + index
        self.prompt_evaluated += len(prompt_tokens) - reused_prefix(
            self._llama._input_ids.tolist(), prompt_tokens)
        out = self._llama.create_completion(prompt_tokens, **kwargs)
        choice, usage = out["choices"][0], out["usage"]
        return Completion(text=choice["text"], finish_reason=choice["finish_reason"] or "stop",
                          prompt_tokens=usage["prompt_tokens"],
                          completion_tokens=usage["completion_tokens"])

    def close(self) -> None:
        decoder = getattr(self, "_decoder", None)
        if decoder is not None:
            decoder.close()
            self._decoder = None
        llama = getattr(self, "_llama", None)
        if llama is not None:
            llama.close()
            self._llama = None


def reused_prefix(held: Sequence[int], tokens: Sequence[int]) -> int:
    """How many leading prompt tokens llama-cpp-python takes from the KV cache instead of
    evaluating, when the context holds ``held`` (its ``Llama.generate`` rule: the longest common
    prefix, less one when the whole prompt matches, so its last token is run for fresh logits)."""
    common = 0
    for a, b in zip(held, tokens):
        if a != b:
            break
        common += 1
    return common - 1 if common == len(tokens) and common else common


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C-level writes to stderr (llama.cpp logs) while loading."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(fd, 2)
            os.close(fd)
