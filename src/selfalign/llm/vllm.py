"""Backend for in-process vLLM on GPUs: the fast path for large runs on one machine.

vLLM batches and schedules all requests itself (continuous batching, paged KV cache), so
``generate`` hands it every prompt at once with per-request sampling parameters. It is imported
only when chosen and lives in the ``[vllm]`` extra; a missing package or a missing GPU fails at
construction with an LLMError that says what to install or which backend to use instead.

Trade-off: in-process means the model is loaded once per selfalign process and needs the GPU to
itself; to share one server between runs, start ``vllm serve`` and use the openai backend.

With ``tensor_parallel_size`` k > 1 the engine shards the model over k GPUs through worker
processes of its own: on this machine by default (vLLM's multiprocessing), or as Ray actors in
the placement group this process runs in (``distributed_executor_backend = "ray"``), which is how
the ray executor runs one replica per group of k GPUs (``executor/ray_replicas.py``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Sequence

from selfalign.llm.base import (LLM, BackendOptions, Completion, LLMError, Request, Result,
                                SamplingParams, require, speed_only)
from selfalign.llm.chat import strip_bos
from selfalign.llm.fingerprint import digest, model_fingerprint


@dataclass
class VLLMOptions(BackendOptions):
    tensor_parallel_size: int = field(default=1, metadata={
        "help": "GPUs to shard the model over"})
    dtype: str = field(default="auto", metadata={
        "help": "weights dtype passed to vLLM: auto, bfloat16, float16, float32"})
    gpu_memory_utilization: float = field(default=0.9, metadata=speed_only(
        "fraction of GPU memory vLLM may take for weights and KV cache"))
    max_model_len: int | None = field(default=None, metadata={
        "help": "context length; default: the model's"})
    tokenizer: str | None = field(default=None, metadata={
        "help": "tokenizer directory or hub id (needed for GGUF models)"})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "allow model code from the model directory or hub"})
    enforce_eager: bool = field(default=False, metadata={
        "help": "skip CUDA graph capture: slower generation, faster start, less memory"})
    require_gpu: bool = field(default=True, metadata=speed_only(
        "fail early when torch sees no CUDA GPU (set false for a CPU build of vLLM)"))
    distributed_executor_backend: str | None = field(default=None, metadata=speed_only(
        "where the workers of tensor_parallel_size > 1 run: 'mp' (processes on this machine), "
        "'ray' (Ray actors in this process's placement group; the ray executor sets it), or "
        "empty = vLLM's choice"))

    def __post_init__(self) -> None:
        if self.tensor_parallel_size < 1:
            raise LLMError(f"model.options.tensor_parallel_size must be 1 or more, "
                           f"got {self.tensor_parallel_size}")


class VLLMLLM(LLM):
    backend = "vllm"
    Options = VLLMOptions
    supports_seed = True
    batched = True
    chunk_size = 512     # continuous batching wants a deep queue; a kill loses minutes at most

    @classmethod
    def tensor_parallel_size(cls, options: dict[str, Any]) -> int:
        return VLLMOptions.from_dict(options).tensor_parallel_size

    def __init__(self, model: str, options: VLLMOptions | None = None) -> None:
        super().__init__(model, options)
        self.vllm = require("vllm", "vllm")
        # With Ray workers the GPUs are theirs: this process (a replica's actor) reserves none.
        if self.options.require_gpu and self.options.distributed_executor_backend != "ray":
            check_gpu()
        self.engine = self._engine()
        # After loading, so a hub id resolves to the snapshot vLLM just downloaded.
        tokenizer = self.options.tokenizer
        self._fingerprint = digest({"model": model_fingerprint(self.model),
                                    "tokenizer": tokenizer and model_fingerprint(tokenizer)}, "vllm")

    def fingerprint(self) -> str:
        return self._fingerprint

    def _engine(self) -> Any:
        opts = self.options
        kwargs = dict(model=self.model, tensor_parallel_size=opts.tensor_parallel_size,
                      dtype=opts.dtype, gpu_memory_utilization=opts.gpu_memory_utilization,
                      trust_remote_code=opts.trust_remote_code, enforce_eager=opts.enforce_eager)
        if opts.max_model_len:
            kwargs["max_model_len"] = opts.max_model_len
        if opts.tokenizer:
            kwargs["tokenizer"] = opts.tokenizer
        if opts.distributed_executor_backend:
            kwargs["distributed_executor_backend"] = opts.distributed_executor_backend
        try:
            return self.vllm.LLM(**kwargs)
        except (OSError, ValueError, RuntimeError) as exc:
            raise LLMError(f"vLLM could not load {self.model!r}: {exc}") from None

    def sampling_params(self, params: SamplingParams) -> Any:
        # vLLM's "off" for top_k is -1 (0 is rejected by older releases); min_p 0 is off in all.
        return self.vllm.SamplingParams(
            n=params.n, temperature=params.temperature, top_p=params.top_p,
            top_k=params.top_k or -1, min_p=params.min_p,
            max_tokens=params.max_tokens, stop=list(params.stop) or None, seed=params.seed)

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        if not requests:
            return []
        outputs = self.engine.generate([r.prompt for r in requests],
                                       [self.sampling_params(r.params) for r in requests],
                                       use_tqdm=False)
        for output in outputs:   # a request's samples share one prompt; prefix caching reuses more
            self.prompt_evaluated += (len(output.prompt_token_ids or ())
                                      - (getattr(output, "num_cached_tokens", 0) or 0))
        return [to_result(output) for output in outputs]

    def chat_template(self) -> str | None:
        template = getattr(self.engine.get_tokenizer(), "chat_template", None)
        return template if isinstance(template, str) and template else None

    def _render_chat(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        tokenizer = self.engine.get_tokenizer()
        text = tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=add_generation_prompt)
        bos = tokenizer.bos_token_id
        adds_bos = bos is not None and tokenizer("x").input_ids[:1] == [bos]
        return strip_bos(text, tokenizer.bos_token, adds_bos)   # generate() encodes with BOS

    def close(self) -> None:
        self.engine = None


def to_result(output: Any) -> Result:
    """A vLLM RequestOutput → Result; vLLM already cuts text at stop strings.

    vLLM says "stop" (EOS or a stop string), "length" or "abort"; an aborted output is
    incomplete, so it counts as truncated and the pipeline drops it.
    """
    prompt_tokens = len(output.prompt_token_ids or ())
    return Result([Completion(c.text, "stop" if c.finish_reason == "stop" else "length",
                              prompt_tokens, len(c.token_ids)) for c in output.outputs])


def check_gpu() -> None:
    """Fail with the reason before vLLM does so with a long traceback."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        raise LLMError("the vllm backend needs torch with CUDA: "
                       "pip install 'selfalign[vllm]'") from None
    if not torch.cuda.is_available():
        raise LLMError(f"the vllm backend needs an NVIDIA GPU, and torch {torch.__version__} "
                       "sees none (no CUDA device or a CPU-only torch build). On CPU use "
                       "backend 'llamacpp' (GGUF) or 'transformers'; or run `vllm serve` on a "
                       "GPU machine and use backend 'openai' with its URL.")
