"""The ``[train]`` section: how ``selfalign train`` fine-tunes a model on its own curated rows.

The defaults are the recipe of StarCoder2-15B-Instruct-v0.1 (docs/training.md): Adafactor,
learning rate 1e-5, 4 epochs, an effective batch of 64 rows reached by gradient accumulation,
5% linear warmup then linear decay, rows up to 1280 tokens, dropout 0, bf16 where the hardware
has it, no packing. The model card ran 1 x 64; the default micro-batch here is 8 x 8, the same
effective batch (the loss is normalised over every label token of the 64 rows either way), which
keeps a GPU busier. Values that mean "none" are 0 or "" so every key can be set from TOML.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfalign.config import setting

TEMPLATES = ("instruct", "chat", "raw")
PRECISIONS = ("auto", "bf16", "bf16-pure", "fp16", "fp32")
OPTIMIZERS = ("adafactor", "adamw_torch", "sgd")
SCHEDULERS = ("linear", "cosine", "constant_with_warmup")
GGUF_TYPES = ("f16", "q8_0", "bf16", "f32")


@dataclass
class TrainConfig:
    model: str = setting("the weights to fine-tune (HF directory, hub id or GGUF file); empty = "
                         "model.model in `selfalign run` (the model that wrote the data; set this "
                         "when that is a server URL) and the embedded default in `selfalign train`", "")
    epochs: float = setting("passes over the training rows (model card: 4)", 4.0)
    max_steps: int = setting("optimizer steps to run; 0 = the epochs decide", 0)
    learning_rate: float = setting("peak learning rate (model card: 1e-5; LoRA usually wants ~1e-4)", 1e-5)
    batch_size: int = setting("rows per device in one forward pass (the micro-batch)", 8)
    grad_accum: int = setting("micro-batches per optimizer step: the effective batch is "
                              "batch_size x grad_accum x devices (model card: 64)", 8)
    max_length: int = setting("rows longer than this many tokens are dropped and counted, never cut "
                              "(a cut row would lose its EOS and teach the model not to stop)", 1280)
    optimizer: str = setting(f"one of {', '.join(OPTIMIZERS)} (model card: adafactor)", "adafactor")
    scheduler: str = setting(f"learning-rate schedule: {', '.join(SCHEDULERS)}", "linear")
    warmup_ratio: float = setting("share of the steps spent warming the learning rate up", 0.05)
    weight_decay: float = setting("weight decay", 0.0)
    max_grad_norm: float = setting("gradient clipping norm; 0 = no clipping", 1.0)
    dropout: float = setting("every dropout probability the model config has (StarCoder2 ships 0.1; "
                             "model card: 0)", 0.0)
    precision: str = setting("auto (bf16 on a GPU that supports it, else fp32); bf16 and fp16: fp32 weights "
                             "with 16-bit autocast; bf16-pure: bf16 weights (half the memory, but updates "
                             "below a weight's bf16 resolution are rounded away); fp32", "auto")
    template: str = setting("instruct: the ### Instruction / ### Response template that `selfalign "
                            "respond` uses; chat: the model's own chat template; raw: a row's "
                            "prompt and completion as they are", "instruct")
    lora: bool = setting("train LoRA adapters (PEFT) instead of every weight; merged into the "
                         "saved model", False)
    lora_r: int = setting("LoRA rank", 16)
    lora_alpha: int = setting("LoRA alpha (scale = alpha / r)", 32)
    lora_dropout: float = setting("dropout on the LoRA branch", 0.0)
    lora_targets: str = setting("modules LoRA wraps: all-linear, or comma-separated names (q_proj,v_proj)",
                                "all-linear")
    packing: bool = setting("concatenate each micro-batch's rows into one sequence kept apart by "
                            "position ids (no padding); checked on the model before training, "
                            "padded batches are used when its attention cannot keep rows apart", False)
    gradient_checkpointing: bool = setting("recompute activations in the backward pass: less memory, "
                                           "about a third more compute", False)
    eval_fraction: float = setting("share of rows held out for the evaluation loss (at least one row "
                                   "when > 0); 0 = no evaluation", 0.05)
    save_steps: int = setting("checkpoint (and evaluate) every N optimizer steps; a kill loses at most "
                              "N steps; 0 = once per epoch", 50)
    save_total_limit: int = setting("checkpoints kept while training", 2)
    keep_checkpoints: bool = setting("keep the checkpoints after the final model is saved", False)
    logging_steps: int = setting("log the loss every N optimizer steps", 1)
    seed: int = setting("seed for the held-out split, data order and initialisation of adapters", 0)
    attn_implementation: str = setting("attention kernel: empty = the model's default (sdpa), "
                                       "or eager, flash_attention_2, ...", "")
    threads: int = setting("CPU threads for torch; 0 = torch's default (one per core)", 0)
    gguf: list[str] = setting(f"GGUF files exported with llama.cpp's converter ({', '.join(GGUF_TYPES)}); "
                              "[] = none", factory=lambda: ["f16", "q8_0"])
    compare_prompts: int = setting("held-out prompts on which the GGUF's greedy output is compared "
                                   "with the HF model's", 3)
    smoke: bool = setting("after training, reload the saved model and check that greedy answers to "
                          "held-out prompts stop at EOS or ###", True)
    smoke_tokens: int = setting("new tokens the smoke answers may take; 0 = 1.25 x the longest training "
                                "response (at least 64)", 0)
    trust_remote_code: bool = setting("allow model code from the model directory or hub", False)

    def __post_init__(self) -> None:
        for key, choices in (("template", TEMPLATES), ("precision", PRECISIONS),
                             ("optimizer", OPTIMIZERS), ("scheduler", SCHEDULERS)):
            if getattr(self, key) not in choices:
                raise ValueError(f"train.{key} must be one of {', '.join(choices)}, got {getattr(self, key)!r}")
        if not set(self.gguf) <= set(GGUF_TYPES):
            raise ValueError(f"train.gguf entries must be among {', '.join(GGUF_TYPES)}, got {self.gguf!r}")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ValueError("train.epochs or train.max_steps must be > 0")
        if min(self.batch_size, self.grad_accum, self.max_length, self.lora_r) < 1:
            raise ValueError("train.batch_size, grad_accum, max_length and lora_r must be at least 1")
        if min(self.max_steps, self.save_steps, self.threads, self.compare_prompts, self.smoke_tokens) < 0:
            raise ValueError("train.max_steps, save_steps, threads, compare_prompts and smoke_tokens "
                             "must be >= 0")
        if not (0 <= self.eval_fraction < 1 and 0 <= self.warmup_ratio < 1):
            raise ValueError("train.eval_fraction and train.warmup_ratio must be in [0, 1)")
        if self.learning_rate <= 0:
            raise ValueError(f"train.learning_rate must be > 0, got {self.learning_rate}")

    @property
    def effective_batch(self) -> int:
        """Rows per optimizer step on one device."""
        return self.batch_size * self.grad_accum
