"""Tiny random models built inside the tests, with in-memory tokenizers.

``word_tokenizer`` is a whole-word vocabulary (decoded text is the words joined by spaces), so
token counts and masks can be read off literal rows. The GGUF tests need a tokenizer llama.cpp's
converter recognises, so ``smol_tokenizer_dir`` saves the embedded SmolLM2's tokenizer once per
session and ``bpe_model_dir`` puts a tiny random Llama behind it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="needs the [train] extra")
transformers = pytest.importorskip("transformers", reason="needs the [train] extra")
pytest.importorskip("trl", reason="needs the [train] extra")

from selfalign.template import SYSTEM, render_prompt  # noqa: E402
from selfalign.train.config import TrainConfig  # noqa: E402

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
ROWS = [("add two numbers", "def add ( a , b ) : return a + b"),
        ("negate a number", "def neg ( x ) : return - x"),
        ("square a number", "def sq ( x ) : return x * x"),
        ("double a number", "def dbl ( x ) : return x + x"),
        ("identity of a number", "def ident ( x ) : return x"),
        ("subtract two numbers", "def sub ( a , b ) : return a - b")]


def vocabulary(*texts: str) -> list[str]:
    words = {w for text in texts for w in text.split()}
    words |= set(render_prompt("x").split()) | set(SYSTEM.split())
    return SPECIALS + sorted(words - set(SPECIALS))


def word_tokenizer(words: list[str] | None = None, adds_bos: bool = False, eos: str | None = "</s>"):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = words or vocabulary(*(t for row in ROWS for t in row))
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if adds_bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    kwargs = {"eos_token": eos} if eos else {}
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", unk_token="<unk>",
                                                pad_token="<pad>", **kwargs)


def tiny_llama(tokenizer, hidden: int = 32, seed: int = 0, sharpen: float = 1.0, layers: int = 2,
               tie: bool = False):
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=tie)
    torch.manual_seed(seed)
    net = transformers.LlamaForCausalLM(config)
    if sharpen != 1.0:   # larger weights make every token's loss depend on its context
        with torch.no_grad():
            for p in net.parameters():
                if p.dim() == 2:
                    p.mul_(sharpen)
    return net


def save_model(path: Path, tokenizer, net) -> Path:
    net.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sft_rows(rows=ROWS) -> list[dict]:
    return [{"prompt": render_prompt(i), "completion": r, "instruction": i} for i, r in rows]


def quick_config(**overrides) -> TrainConfig:
    """A config for tiny models: a few steps, no GGUF, no smoke generation, no held-out split."""
    base = dict(max_steps=4, batch_size=2, grad_accum=1, learning_rate=1e-3, save_steps=2, eval_fraction=0.0,
                gguf=[], smoke=False, compare_prompts=0, warmup_ratio=0.0, threads=1)
    base.update(overrides)
    return TrainConfig(**base)


@pytest.fixture
def word_model_dir(tmp_path):
    tokenizer = word_tokenizer()
    return save_model(tmp_path / "tiny", tokenizer, tiny_llama(tokenizer))


@pytest.fixture
def sft_file(tmp_path):
    return write_jsonl(tmp_path / "sft.jsonl", sft_rows())


@pytest.fixture(scope="session")
def smol_tokenizer_dir(tmp_path_factory):
    """The embedded SmolLM2's tokenizer, read from its GGUF once and saved as HF files."""
    from selfalign.train.model import load_tokenizer, resolve_base

    path = tmp_path_factory.mktemp("smol-tokenizer")
    load_tokenizer(resolve_base(None)).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def bpe_model_dir(tmp_path_factory, smol_tokenizer_dir):
    """A tiny random Llama behind SmolLM2's byte-level BPE tokenizer (llama.cpp can convert it)."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(smol_tokenizer_dir)
    path = tmp_path_factory.mktemp("tiny-bpe")
    return save_model(path, tokenizer, tiny_llama(tokenizer, hidden=64, sharpen=4.0, tie=True))
