"""Backend for Hugging Face transformers models: a local directory, a GGUF file, or a hub id.

Prompts are generated in left-padded batches on CPU or GPU. Each row of a batch (one sample of
one request) draws its tokens from its own ``torch.Generator`` seeded from the request's seed and
the sample index, inside a logits processor; ``generate`` then runs greedy over the one token
left standing. So a seeded request gives the same text whatever it is batched with (up to the
float noise of padding), and one batch may mix temperatures, top-p values, stops and token limits.

Trade-off: sampling in a Python loop over rows costs a little per token, and the batch runs until
its longest row is done. A per-row stopping criterion ends rows at EOS, at a stop sequence or at
their own ``max_tokens``, so finished rows only cost padding. torch and transformers are imported
only when this backend is built (the ``[transformers]`` extra).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

from selfalign.llm.base import (LLM, BackendOptions, Completion, LLMError, Request, Result,
                                SamplingParams, require, speed_only)
from selfalign.llm.chat import strip_bos
from selfalign.llm.fingerprint import model_fingerprint

DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class TransformersOptions(BackendOptions):
    gguf_file: str | None = field(default=None, metadata={
        "help": "GGUF file inside the model directory to load (dequantized); a model path that "
                "ends in .gguf sets this by itself"})
    device: str = field(default="auto", metadata={
        "help": "torch device: cpu, cuda, cuda:1…; auto picks cuda when available"})
    dtype: str = field(default="auto", metadata={
        "help": f"weights dtype, one of {', '.join(DTYPES)}; "
                "auto: bfloat16 on GPU, float32 on CPU"})
    batch_size: int = field(default=8, metadata=speed_only(
        "rows (prompts x n) generated together"))
    trust_remote_code: bool = field(default=False, metadata={
        "help": "allow model code from the model directory or hub"})
    threads: int = field(default=0, metadata=speed_only(
        "CPU threads for torch (process-wide); 0 keeps torch's default (one per core)"))

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise LLMError(f"option 'dtype' must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.batch_size < 1:
            raise LLMError("option 'batch_size' must be at least 1")


@dataclass
class _Row:
    """One sample to generate: request ``index``, sample ``k``, and how to stop it."""

    index: int
    k: int
    params: SamplingParams
    text: str = ""
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def seed(self) -> int | None:
        seed = self.params.seed
        # Distinct, stable streams per sample of one request.
        return None if seed is None else (seed * 1_000_003 + self.k) % 2 ** 63


class TransformersLLM(LLM):
    backend = "transformers"
    Options = TransformersOptions
    supports_seed = True
    batched = True

    @classmethod
    def suggested_chunk_size(cls, options: dict[str, Any], model: str = "") -> int:
        return max(cls.chunk_size, int(options.get("batch_size", 8)))

    def __init__(self, model: str, options: TransformersOptions | None = None) -> None:
        super().__init__(model, options)
        self.torch = require("torch", "transformers")
        self.hf = require("transformers", "transformers")
        source, gguf_file = self._source()
        self.device = self._device()
        if self.options.threads > 0:
            # On a busy machine torch's idle threads spin; fewer threads can be much faster.
            self.torch.set_num_threads(self.options.threads)
        self.tokenizer = self._load(self.hf.AutoTokenizer, source, gguf_file)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.net = self._load(self.hf.AutoModelForCausalLM, source, gguf_file,
                              dtype=self._dtype()).to(self.device).eval()
        self.eos_ids = _eos_ids(self.net.generation_config, self.tokenizer)
        # After loading, so a hub id resolves to the snapshot just downloaded.
        self._fingerprint = model_fingerprint(source, gguf_file)

    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def name(self) -> str:
        gguf = self._source()[1]
        base = super().name
        return base if not gguf or self.model.endswith(gguf) else f"{base}#{gguf}"

    def _source(self) -> tuple[str, str | None]:
        """A path to a .gguf file is split into (directory, file name) for from_pretrained."""
        gguf_file = self.options.gguf_file
        if self.model.endswith(".gguf") and os.path.isfile(self.model):
            return os.path.dirname(os.path.abspath(self.model)), os.path.basename(self.model)
        return self.model, gguf_file

    def _device(self) -> str:
        device = self.options.device
        if device == "auto":
            return "cuda" if self.torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not self.torch.cuda.is_available():
            raise LLMError(f"option device={device!r} but torch sees no CUDA GPU "
                           f"(torch {self.torch.__version__}); use device='cpu'")
        return device

    def _dtype(self) -> Any:
        name = self.options.dtype
        if name == "auto":
            name = "float32" if self.device == "cpu" else "bfloat16"
        return getattr(self.torch, name)

    def _load(self, auto: Any, source: str, gguf_file: str | None, **kwargs: Any) -> Any:
        if gguf_file:
            kwargs["gguf_file"] = gguf_file
        try:
            return auto.from_pretrained(source, trust_remote_code=self.options.trust_remote_code,
                                        **kwargs)
        except (OSError, ValueError, ImportError) as exc:
            where = "local directory" if os.path.isdir(source) else "hub id (is the hub reachable?)"
            gguf = f" with gguf_file={gguf_file!r}" if gguf_file else ""
            raise LLMError(f"transformers could not load {source!r} as a {where}{gguf}: "
                           f"{exc}") from None

    def chat_template(self) -> str | None:
        template = getattr(self.tokenizer, "chat_template", None)
        return template if isinstance(template, str) and template else None

    def _render_chat(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)
        return strip_bos(text, self.tokenizer.bos_token, _adds_bos(self.tokenizer))

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        rows = [_Row(i, k, r.params) for i, r in enumerate(requests) for k in range(r.params.n)]
        # Batching prompts of similar length wastes less on padding; since every row samples
        # from its own generator, the order does not change what a seeded row generates.
        by_length = sorted(rows, key=lambda row: len(requests[row.index].prompt))
        size = self.options.batch_size
        for start in range(0, len(by_length), size):
            batch = by_length[start:start + size]
            self._generate_batch([requests[row.index].prompt for row in batch], batch)
        results = [Result([]) for _ in requests]
        for row in rows:
            results[row.index].completions.append(Completion(
                row.text, row.finish_reason, row.prompt_tokens, row.completion_tokens))
        return results

    def _generate_batch(self, prompts: list[str], rows: list[_Row]) -> None:
        torch, hf = self.torch, self.hf
        inputs = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        width = inputs["input_ids"].shape[1]
        stopper = _RowStopper(self.tokenizer, rows, width, self.eos_ids)
        config = hf.GenerationConfig(
            max_new_tokens=max(row.params.max_tokens for row in rows), do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.eos_ids)
        with torch.inference_mode():
            output = self.net.generate(
                **inputs, generation_config=config,
                logits_processor=hf.LogitsProcessorList([_RowSampler(torch, rows)]),
                stopping_criteria=hf.StoppingCriteriaList([stopper]))
        lengths = inputs["attention_mask"].sum(dim=1).tolist()
        self.prompt_evaluated += int(sum(lengths))     # every row runs its own prompt
        for b, row in enumerate(rows):
            row.prompt_tokens = int(lengths[b])
            stopper.finish(row, b, output[b, width:].tolist())

    def close(self) -> None:
        self.net = None
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()


def _adds_bos(tokenizer: Any) -> bool:
    """Whether encoding a prompt puts BOS in front (so a template's own BOS must go)."""
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("x").input_ids[:1] == [bos]


def _eos_ids(generation_config: Any, tokenizer: Any) -> list[int]:
    ids = generation_config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


class _RowSampler:
    """Logits processor: samples each row with its own generator, leaves only that token."""

    def __init__(self, torch: Any, rows: list[_Row]) -> None:
        self.torch = torch
        self.rows = rows
        self.generators: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = self.torch
        if not self.generators:
            self.generators = [self._generator(row, scores.device) for row in self.rows]
        chosen = torch.full_like(scores, float("-inf"))
        for b, row in enumerate(self.rows):
            chosen[b, self._sample(scores[b], row.params, self.generators[b])] = 0.0
        return chosen

    def _generator(self, row: _Row, device: Any) -> Any:
        generator = self.torch.Generator(device=device)
        if row.seed is None:
            generator.seed()
        else:
            generator.manual_seed(row.seed)
        return generator

    def _sample(self, logits: Any, params: SamplingParams, generator: Any) -> int:
        """Temperature, then top_k, top_p and min_p (transformers' and vLLM's order)."""
        torch = self.torch
        if params.temperature <= 0:
            return int(logits.argmax())
        probs = torch.softmax(logits.float() / params.temperature, dim=-1)
        if params.top_p >= 1.0 and params.top_k == 0 and params.min_p == 0.0:
            return int(torch.multinomial(probs, 1, generator=generator))
        sorted_probs, order = probs.sort(descending=True)
        keep = torch.ones_like(sorted_probs, dtype=torch.bool)
        if params.top_k:
            keep[params.top_k:] = False
        if params.top_p < 1.0:
            # Nucleus: the most likely tokens until their mass reaches top_p (at least one).
            kept = sorted_probs * keep
            keep &= (kept.cumsum(-1) - kept) < params.top_p * kept.sum()
        if params.min_p > 0.0:
            keep &= sorted_probs >= params.min_p * sorted_probs[0]
        pick = torch.multinomial(sorted_probs * keep, 1, generator=generator)
        return int(order[pick])


class _RowStopper:
    """Per-row stopping: EOS, a stop sequence, or the row's own max_tokens."""

    def __init__(self, tokenizer: Any, rows: list[_Row], width: int, eos_ids: list[int]) -> None:
        self.tokenizer = tokenizer
        self.rows = rows
        self.width = width
        self.eos_ids = set(eos_ids)
        self.done: list[tuple[str, int] | None] = [None] * len(rows)
        # Stop sequences are searched in a decoded tail long enough to hold the longest one.
        self.tail = max((len(s) for r in rows for s in r.params.stop), default=0) + 8

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch
        new = input_ids.shape[1] - self.width
        for b, row in enumerate(self.rows):
            if self.done[b] is None:
                self.done[b] = self._check(input_ids[b], new, row.params)
        return torch.tensor([d is not None for d in self.done], device=input_ids.device)

    def _check(self, ids: Any, new: int, params: SamplingParams) -> tuple[str, int] | None:
        if int(ids[-1]) in self.eos_ids:
            return "stop", new - 1
        if params.stop:
            tail = self.tokenizer.decode(ids[-min(new, self.tail):], skip_special_tokens=True)
            if any(s in tail for s in params.stop):
                return "stop", new
        if new >= params.max_tokens:
            return "length", new
        return None

    def finish(self, row: _Row, b: int, new_ids: list[int]) -> None:
        """Fill the row's text, finish reason and token count from its generated ids."""
        reason, count = self.done[b] or ("length", len(new_ids))
        text = self.tokenizer.decode(new_ids[:count], skip_special_tokens=True)
        cuts = [text.index(s) for s in row.params.stop if s in text]
        if cuts:
            text, reason = text[:min(cuts)], "stop"
        row.text, row.finish_reason, row.completion_tokens = text, reason, count
