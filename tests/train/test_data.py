"""Reading SFT datasets in every accepted shape, and masking on literal rows."""

from __future__ import annotations

import json

import pytest

from selfalign.store import InputError
from selfalign.template import SYSTEM, render_prompt
from selfalign.train import data
from selfalign.train.data import IGNORE, DataStats, Row

from .conftest import sft_rows, word_tokenizer, write_jsonl


def test_masking_on_a_literal_row():
    tok = word_tokenizer()
    prompt = render_prompt("add two numbers")
    [enc], merges = data.encode_pairs([(prompt, "def add ( a , b ) : return a + b")], tok, "instruct")
    prompt_ids = tok(prompt)["input_ids"]
    response_ids = [tok.convert_tokens_to_ids(w) for w in "def add ( a , b ) : return a + b".split()]
    assert merges == 0
    assert enc.prompt_len == len(prompt_ids) == len(SYSTEM.split()) + 2 + 3 + 2
    assert enc.input_ids == prompt_ids + response_ids + [tok.eos_token_id]
    assert enc.labels == [IGNORE] * len(prompt_ids) + response_ids + [tok.eos_token_id]


def test_the_prompt_is_encoded_as_inference_encodes_it_with_the_tokenizers_bos():
    tok = word_tokenizer(adds_bos=True)
    [enc], _ = data.encode_pairs([(render_prompt("negate a number"), "def neg ( x ) : return - x")], tok, "instruct")
    assert enc.input_ids[0] == tok.bos_token_id and enc.input_ids.count(tok.bos_token_id) == 1
    assert enc.input_ids[: enc.prompt_len] == tok(render_prompt("negate a number"))["input_ids"]
    assert enc.labels[-1] == tok.eos_token_id and enc.labels[: enc.prompt_len] == [IGNORE] * enc.prompt_len


def test_an_eos_already_at_the_end_is_not_doubled():
    tok = word_tokenizer()
    [enc], _ = data.encode_pairs([(render_prompt("x"), "return x </s>")], tok, "instruct")
    assert enc.labels[-2:] == [tok.convert_tokens_to_ids("x"), tok.eos_token_id]


def test_every_row_shape_renders_the_same_instruct_prompt():
    tok = word_tokenizer()
    shapes = [{"prompt": render_prompt("add two numbers"), "completion": "def"},
              {"messages": [{"role": "user", "content": "add two numbers"}, {"role": "assistant", "content": "def"}]},
              {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "add two numbers"},
                            {"role": "assistant", "content": "def"}]},
              {"prompt": [{"role": "user", "content": "add two numbers"}],
               "completion": [{"role": "assistant", "content": "def"}]},
              {"instruction": "add two numbers", "response": "def"}]
    rendered = {data.render(data.to_row(d, "test"), "instruct", tok) for d in shapes}
    assert rendered == {(render_prompt("add two numbers"), "def")}


def test_bad_rows_name_their_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(sft_rows()[0]) + "\n" + json.dumps({"text": "hi"}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2: a row needs messages"):
        data.load_rows(path)
    multi = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
              {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]
    with pytest.raises(InputError, match="one turn"):
        data.to_row({"messages": multi}, "x")


def test_dataset_folders_and_files(tmp_path):
    rows = sft_rows()
    curated = tmp_path / "curated"
    curated.mkdir()
    write_jsonl(curated / "data.jsonl", [{**r, "messages": []} for r in rows])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_jsonl(run_dir / "sft.jsonl", rows)
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "rows.parquet")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "hf"))
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "hfdict"))
    for path in (curated, run_dir, tmp_path / "rows.parquet", tmp_path / "hf", tmp_path / "hfdict"):
        loaded, source = data.load_rows(path)
        assert [(r.prompt, r.response) for r in loaded] == [(r["prompt"], r["completion"]) for r in rows], path
        assert len(source.sha256) == 64 and source.rows == len(rows)
    with pytest.raises(InputError, match="no training rows"):
        data.load_rows(write_jsonl(tmp_path / "empty.jsonl", []))


def test_a_selfalign_header_line_is_skipped(tmp_path):
    path = tmp_path / "stage.jsonl"
    write_jsonl(path, [{"format": "selfalign", "kind": "rows", "version": 2}, *sft_rows()[:2]])
    assert len(data.load_rows(path)[0]) == 2


def test_long_and_empty_rows_are_dropped_and_counted_never_cut():
    tok = word_tokenizer()
    rows = [Row("def add ( a , b ) : return a + b", "add two numbers"), Row("  ", "x"),
            Row(" ".join(["x"] * 50), "identity of a number")]
    stats = DataStats()
    kept = data.encode_rows(rows, tok, "instruct", max_length=40, stats=stats)
    assert len(kept) == 1 and kept[0].labels[-1] == tok.eos_token_id
    assert dict(stats.dropped) == {"empty_response": 1, "too_long": 1}
    assert stats.tokens == len(kept[0].input_ids) and stats.label_tokens == len(kept[0].input_ids) - kept[0].prompt_len


def test_the_held_out_split_is_seeded():
    rows = [Row(str(i), str(i)) for i in range(40)]
    train, held = data.split_rows(rows, 0.1, seed=3)
    assert len(held) == 4 and len(train) == 36 and set(map(id, train)).isdisjoint(map(id, held))
    assert data.split_rows(rows, 0.1, seed=3)[1] == held != data.split_rows(rows, 0.1, seed=4)[1]
    assert len(data.split_rows(rows[:5], 0.05, seed=0)[1]) == 1
    assert data.split_rows(rows, 0.0, seed=0) == (rows, [])


def test_chat_template_rows_end_at_eos():
    tok = word_tokenizer(vocabulary_with_chatml())
    tok.chat_template = ("{% for m in messages %}{{ '<|im_start|> ' + m['role'] + ' ' + m['content'] + ' </s> ' }}"
                         "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|> assistant ' }}{% endif %}")
    row = Row("def neg ( x ) : return - x", "negate a number")
    prompt, completion = data.render(row, "chat", tok)
    assert prompt == "<|im_start|> user negate a number </s> <|im_start|> assistant "
    assert completion == "def neg ( x ) : return - x </s>"
    [enc], _ = data.encode_pairs([(prompt, completion)], tok, "chat")
    assert enc.labels.count(tok.eos_token_id) == 1 and enc.labels[-1] == tok.eos_token_id
    from selfalign.train.checks import check_template

    assert check_template([row], tok, "chat")["chat_template_matches"]


def vocabulary_with_chatml() -> list[str]:
    from .conftest import ROWS, vocabulary

    return vocabulary("<|im_start|> user assistant", *(t for row in ROWS for t in row))


def test_parse_instruct_prompt_round_trips_and_rejects_others():
    assert data.parse_instruct_prompt(render_prompt("do x\n\nthen y")) == (SYSTEM, "do x\n\nthen y")
    assert data.parse_instruct_prompt("Question: do x\nAnswer:") is None
    assert data.parse_instruct_prompt(render_prompt("do x") + " ") is None
