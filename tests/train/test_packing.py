"""Packing without contamination, verified on CPU with SDPA, and refused where attention leaks."""

from __future__ import annotations

import pytest
import torch

from selfalign.train import train
from selfalign.train.data import encode_pairs
from selfalign.train.packing import VARLEN_SDPA, isolation_check, training_attention

from .conftest import ROWS, quick_config, save_model, sft_rows, tiny_llama, word_tokenizer, write_jsonl
from selfalign.template import render_prompt

LEAKY = "selfalign_test_leaky"


def encoded(tok):
    pairs = [(render_prompt(i), r) for i, r in ROWS[:3]]
    return encode_pairs(pairs, tok, "instruct")[0]


def collate(tok, rows, padding_free):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id, padding_free=padding_free)(
        [{"input_ids": e.input_ids, "labels": e.labels} for e in rows])


@pytest.mark.parametrize("attention", ["sdpa", VARLEN_SDPA])
@pytest.mark.parametrize("padding_free", [True, False])
def test_a_batch_gives_every_token_the_loss_it_has_alone(attention, padding_free):
    tok = word_tokenizer()
    net = tiny_llama(tok, sharpen=4.0)
    if attention == VARLEN_SDPA:
        assert training_attention(net) == VARLEN_SDPA
    rows = encoded(tok)
    report = isolation_check(net, [e.input_ids for e in rows], tok.pad_token_id, padding_free=padding_free)
    assert report["ok"] and report["attention"] == attention and report["tokens"] > 40
    assert report["layout"] == ("packed" if padding_free else "padded")
    assert report["max_diff"] < 1e-4 < 1e-2 < report["contaminated_diff"]
    with torch.no_grad():   # and the loss the trainer minimises: padded batch == packed batch
        padded = net(**collate(tok, rows, padding_free=False), use_cache=False).loss
        packed = net(**collate(tok, rows, padding_free=True), use_cache=False).loss
    assert abs(float(padded) - float(packed)) < 1e-5


def leaky_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """Causal attention over the whole row: ignores the packed rows' boundaries."""
    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, is_causal=True, scale=scaling,
                                                           enable_gqa=True)
    return out.transpose(1, 2).contiguous(), None


@pytest.fixture
def leaky():
    from transformers import AttentionInterface

    AttentionInterface.register(LEAKY, leaky_attention)
    return LEAKY


def test_attention_that_leaks_across_rows_is_caught(leaky):
    tok = word_tokenizer()
    net = tiny_llama(tok, sharpen=4.0)
    net.set_attn_implementation(leaky)
    report = isolation_check(net, [e.input_ids for e in encoded(tok)], tok.pad_token_id)
    assert not report["ok"] and report["max_diff"] > report["atol"]
    padded = isolation_check(net, [e.input_ids for e in encoded(tok)], tok.pad_token_id, padding_free=False)
    assert padded["ok"]   # causal attention over right-padded rows: nothing leaks


def test_packed_training_matches_padded_training_and_falls_back_when_attention_leaks(tmp_path, leaky):
    tok = word_tokenizer()
    model = save_model(tmp_path / "tiny", tok, tiny_llama(tok, sharpen=2.0))
    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows())
    padded = train(data, tmp_path / "padded", quick_config(batch_size=3), str(model), progress=False)
    packed = train(data, tmp_path / "packed", quick_config(batch_size=3, packing=True), str(model), progress=False)
    refused = train(data, tmp_path / "refused", quick_config(batch_size=3, packing=True, attn_implementation=leaky),
                    str(model), progress=False)
    assert not padded["training"]["packed"] and padded["checks"]["attention"]["layout"] == "padded"
    assert packed["training"]["packed"] and packed["checks"]["attention"]["layout"] == "packed"
    assert padded["checks"]["attention"]["attention"] == packed["checks"]["attention"]["attention"] == VARLEN_SDPA
    assert not refused["training"]["packed"] and not refused["checks"]["attention"]["rejected"]["ok"]
    assert refused["checks"]["attention"]["layout"] == "padded" and refused["checks"]["attention"]["attention"] == leaky
    weights = {name: _weights(tmp_path / name) for name in ("padded", "packed", "refused")}
    for name, w in weights["padded"].items():
        assert torch.allclose(w, weights["packed"][name], atol=1e-5), name
        assert torch.allclose(w, weights["refused"][name], atol=1e-5), name   # padded, like the first


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))
