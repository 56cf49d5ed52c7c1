"""Save, reload, generate: the trained directory answers through `respond`, in HF and GGUF form."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM
from safetensors.torch import load_file

from selfalign.respond import respond
from selfalign.train import train
from selfalign.train.model import instruct_chat_template, load_model, resolve_base

from .conftest import ROWS, quick_config, sft_rows, write_jsonl

MEMORISE = dict(max_steps=40, batch_size=2, learning_rate=1e-2, optimizer="adamw_torch", save_steps=0)


def test_save_reload_generate_round_trip(tmp_path, word_model_dir):
    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows(ROWS[:2]))
    out = tmp_path / "out"
    card = train(data, out, quick_config(**MEMORISE, smoke=True, compare_prompts=2), str(word_model_dir),
                 progress=False)
    # the budget is 1.25 x the longest response, at least 64 tokens
    assert card["checks"]["smoke"] == {**card["checks"]["smoke"], "ok": True, "stopped": 2, "of": 2,
                                       "max_new_tokens": 64}
    assert [s["stop"] for s in card["checks"]["smoke"]["samples"]] == ["eos", "eos"]
    for instruction, response in ROWS[:2]:   # the directory works as a `--model` for `selfalign respond`
        assert respond(instruction, model=str(out), max_tokens=32) == response
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config and config["use_cache"] is True
    tokenizer_chat = (out / "chat_template.jinja").read_text()
    assert tokenizer_chat == instruct_chat_template(adds_bos=False)
    assert card["base_model"]["model"] == str(word_model_dir)
    assert card["dataset"]["sha256"] and card["dataset"]["train"] == 2 and card["config"]["max_steps"] == 40
    assert json.loads((out / "selfalign.json").read_text()) == card
    curve = json.loads((out / "loss.json").read_text())
    assert len(curve["train"]) == 40 and curve["train"][-1]["loss"] < curve["train"][0]["loss"] / 10
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_gguf_export_round_trip(tmp_path, bpe_model_dir):
    """Train a tiny BPE model until it answers; its f16 and q8_0 GGUFs answer the same through
    llama.cpp; and a GGUF goes back in as a base model (dequantized, saved as a plain checkpoint)."""
    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows(ROWS[:2]))
    out = tmp_path / "out"
    cfg = quick_config(**MEMORISE, smoke=True, smoke_tokens=24, compare_prompts=2, gguf=["f16", "q8_0"])
    card = train(data, out, cfg, str(bpe_model_dir), progress=False)
    files = card["gguf"]["files"]
    assert set(files) == {"f16", "q8_0"}
    compare = card["gguf"]["compare"]
    assert compare["f16"]["identical"] == 2 and compare["q8_0"]["identical"] == 2, compare
    assert compare["hf"] == [ROWS[0][1], ROWS[1][1]]
    assert respond(ROWS[0][0], model=str(out / files["f16"]), max_tokens=32) == ROWS[0][1]

    # a GGUF as the base model: dequantized, cleared of its quantization, saved, reloaded
    base = resolve_base(str(out / files["f16"]))
    assert base.gguf_file == f"{out.name}-f16.gguf" and len(base.sha256) == 64
    load_model(base, "fp32", dropout=0.0).save_pretrained(tmp_path / "from-gguf")
    assert "quantization_config" not in json.loads((tmp_path / "from-gguf" / "config.json").read_text())
    original = load_file(str(out / "model.safetensors"))
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "from-gguf").state_dict()
    for name, weight in original.items():   # f16 rounding apart, the weights came back (q/k un-permuted)
        assert torch.allclose(reloaded[name], weight, rtol=2e-3, atol=2e-3), name


def test_lora_adapters_are_merged_into_a_plain_checkpoint(tmp_path, word_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfalign.train import data as train_data

    rows = sft_rows(ROWS[:3])
    out = tmp_path / "lora"
    card = train(write_jsonl(tmp_path / "sft.jsonl", rows), out,
                 quick_config(**{**MEMORISE, "learning_rate": 3e-2}, lora=True, lora_r=8, lora_alpha=16,
                              eval_fraction=0.34), str(word_model_dir), progress=False)
    merged, base = load_file(str(out / "model.safetensors")), load_file(str(word_model_dir / "model.safetensors"))
    assert merged.keys() == base.keys() and not (out / "adapter").exists()   # no lora_A / lora_B left
    assert not torch.equal(merged["model.layers.0.self_attn.q_proj.weight"],
                           base["model.layers.0.self_attn.q_proj.weight"])
    assert torch.equal(merged["model.embed_tokens.weight"], base["model.embed_tokens.weight"])
    # the merged checkpoint computes the held-out loss the adapter model had at the end of training
    _, held = train_data.split_rows([train_data.to_row(r, "") for r in rows], 0.34, seed=0)
    tok = AutoTokenizer.from_pretrained(out)
    [enc] = train_data.encode_rows(held, tok, "instruct", 1280, train_data.DataStats())
    net = AutoModelForCausalLM.from_pretrained(out)
    with torch.no_grad():
        loss = net(input_ids=torch.tensor([enc.input_ids]), labels=torch.tensor([enc.labels])).loss
    assert float(loss) == pytest.approx(card["training"]["eval_loss"], abs=1e-4)


def test_gradient_checkpointing_changes_memory_not_results(tmp_path, word_model_dir, sft_file):
    plain = train(sft_file, tmp_path / "plain", quick_config(), str(word_model_dir), progress=False)
    recomputed = train(sft_file, tmp_path / "gc", quick_config(gradient_checkpointing=True), str(word_model_dir),
                       progress=False)
    assert plain["training"]["train_loss"] == pytest.approx(recomputed["training"]["train_loss"], abs=1e-6)
    a, b = load_file(str(tmp_path / "plain" / "model.safetensors")), load_file(str(tmp_path / "gc" / "model.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6


def test_the_smoke_check_reports_a_model_that_does_not_stop():
    from selfalign.template import render_prompt
    from selfalign.train.checks import smoke_generate

    from .conftest import tiny_llama, word_tokenizer

    tok = word_tokenizer()
    net = tiny_llama(tok)
    # a model that never picks EOS or ###
    net.generation_config.suppress_tokens = [tok.eos_token_id, tok.convert_tokens_to_ids("###")]
    report = smoke_generate(net, tok, [render_prompt("add two numbers")], "instruct", 8)
    assert report["ok"] is False and report["samples"][0]["stop"] == "length" and report["samples"][0]["tokens"] == 8


def test_fewer_rows_than_one_batch_is_a_warning(tmp_path, word_model_dir, capsys):
    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows(ROWS[:2]))
    train(data, tmp_path / "small", quick_config(max_steps=1, batch_size=2, grad_accum=2), str(word_model_dir),
          progress=False)
    assert "warning: 2 training rows, fewer than one effective batch (4 = batch_size x grad_accum)" in \
        capsys.readouterr().err
    train(data, tmp_path / "enough", quick_config(max_steps=1, batch_size=2, grad_accum=1), str(word_model_dir),
          progress=False)
    assert "effective batch" not in capsys.readouterr().err
