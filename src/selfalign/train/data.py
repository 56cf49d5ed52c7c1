"""Training rows: read any SFT dataset, render it in a template, tokenize it, mask the prompt.

Accepted inputs: a curated dataset folder (``data.jsonl`` / ``data.parquet``), a run directory
(``sft.jsonl``), a ``datasets.save_to_disk`` folder, or any ``.jsonl`` / ``.jsonl.gz`` / ``.json`` /
``.parquet`` file or folder of them, whose rows carry ``messages`` (system?, user, assistant),
``prompt`` / ``completion`` (text, or TRL's conversational lists) or ``instruction`` / ``response``.

Tokenization follows inference, not convenience: the prompt is encoded alone, exactly as a
backend encodes it when ``selfalign respond`` sends it (the tokenizer's own BOS rule, no EOS), so
the model is trained on the very ids it will be prompted with. The completion is whatever the
joint encoding of prompt + completion puts after those ids (its natural tokenization), or, when a
token merges across the boundary, the completion encoded alone (counted in ``boundary_merges``).
EOS is appended when the completion does not already end with it, and learned. Rows longer than
``max_length`` are dropped and counted, never cut: a cut row loses its EOS.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from selfalign.store import InputError, iter_jsonl
from selfalign.template import INSTRUCTION_HEADER, RESPONSE_HEADER, SYSTEM, render_prompt

IGNORE = -100   # the label of a token that carries no loss (torch's cross-entropy ignore_index)
DATA_FILES = ("data.jsonl", "data.parquet", "sft.jsonl")   # curated folder, then a run directory
SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")


@dataclass
class Row:
    """One single-turn example; ``prompt`` is set when the row came already rendered."""

    response: str
    instruction: str | None = None
    system: str | None = None
    prompt: str | None = None

    def messages(self) -> list[dict[str, str]]:
        instruction = self.instruction
        if instruction is None:
            parsed = parse_instruct_prompt(self.prompt or "")
            if parsed is None:
                raise InputError("template 'chat' needs the instruction, but this row has only a prompt "
                                 f"that is not in the instruct template: {(self.prompt or '')[:80]!r}")
            system, instruction = parsed
        else:
            system = self.system
        head = [{"role": "system", "content": system}] if system else []
        return head + [{"role": "user", "content": instruction},
                       {"role": "assistant", "content": self.response}]


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    prompt_len: int


@dataclass
class DataSource:
    path: str
    files: list[str]
    sha256: str
    rows: int = 0


@dataclass
class DataStats:
    rows: int = 0
    train: int = 0
    eval: int = 0
    dropped: Counter = field(default_factory=Counter)
    boundary_merges: int = 0
    tokens: int = 0
    label_tokens: int = 0
    longest: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "train": self.train, "eval": self.eval, "dropped": dict(self.dropped),
                "boundary_merges": self.boundary_merges, "tokens": self.tokens,
                "label_tokens": self.label_tokens, "longest": self.longest}


def parse_instruct_prompt(prompt: str) -> tuple[str, str] | None:
    """(system, instruction) of a prompt rendered by ``render_prompt``; None if it is not one."""
    head, sep, rest = prompt.partition(f"\n\n{INSTRUCTION_HEADER}\n")
    tail = f"\n\n{RESPONSE_HEADER}\n"
    if not sep or not rest.endswith(tail):
        return None
    instruction = rest[: -len(tail)]
    return (head, instruction) if render_prompt(instruction, system=head) == prompt else None


# ---- reading -------------------------------------------------------------------------------

def data_files(path: str | Path) -> list[Path]:
    """The files a dataset path stands for (see the module docstring)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"training data not found: {path}")
    for name in DATA_FILES:
        if (path / name).is_file():
            return [path / name]
    if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
        return sorted(p for p in path.rglob("*") if p.is_file())
    files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(SUFFIXES))
    if not files:
        raise InputError(f"{path}: no data.jsonl, data.parquet, sft.jsonl, datasets folder or "
                         f"{'/'.join(SUFFIXES)} files in it")
    return files


def load_rows(path: str | Path) -> tuple[list[Row], DataSource]:
    files = data_files(path)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    is_arrow_folder = Path(path).is_dir() and any(f.name in ("dataset_info.json", "dataset_dict.json")
                                                  for f in files)
    raw = _load_datasets_folder(Path(path)) if is_arrow_folder else _load_files(files)
    rows = [to_row(d, where) for where, d in raw]
    if not rows:
        raise InputError(f"{path}: no training rows (is the dataset empty?)")
    return rows, DataSource(str(path), [str(f) for f in files], digest.hexdigest(), len(rows))


def _load_files(files: list[Path]) -> Iterable[tuple[str, Any]]:
    for f in files:
        if f.suffix == ".parquet":
            import pyarrow.parquet as pq
            for i, d in enumerate(pq.read_table(f).to_pylist(), 1):
                yield f"{f}:{i}", d
        elif f.suffix == ".json":
            data = json.loads(f.read_text(encoding="utf-8"))
            for i, d in enumerate(data if isinstance(data, list) else data.get("rows", []), 1):
                yield f"{f}:{i}", d
        else:
            for lineno, d in iter_jsonl(f):
                if isinstance(d, dict) and d.get("format") == "selfalign" and "kind" in d:
                    continue   # a selfalign file header
                yield f"{f}:{lineno}", d


def _load_datasets_folder(path: Path) -> Iterable[tuple[str, Any]]:
    import datasets

    data = datasets.load_from_disk(str(path))
    if isinstance(data, datasets.DatasetDict):
        if "train" not in data:
            raise InputError(f"{path}: a DatasetDict without a 'train' split ({', '.join(data)})")
        data = data["train"]
    for i, d in enumerate(data, 1):
        yield f"{path}[{i}]", d


def to_row(d: Any, where: str) -> Row:
    """A Row from one record of any accepted shape; a bad record names its file and line."""
    if not isinstance(d, dict):
        raise InputError(f"{where}: a row should be a JSON object")
    if isinstance(d.get("prompt"), list) and isinstance(d.get("completion"), list):
        d = {"messages": d["prompt"] + d["completion"]}   # TRL's conversational prompt-completion
    if d.get("messages"):
        return _row_from_messages(d["messages"], where)
    if isinstance(d.get("prompt"), str) and isinstance(d.get("completion"), str):
        return Row(d["completion"], d.get("instruction"), None, d["prompt"])
    if isinstance(d.get("instruction"), str) and isinstance(d.get("response"), str):
        return Row(d["response"], d["instruction"])
    raise InputError(f"{where}: a row needs messages, prompt/completion or instruction/response; "
                     f"it has {', '.join(sorted(d)) or 'no fields'}")


def _row_from_messages(messages: Any, where: str) -> Row:
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    if roles and roles[0] == "system":
        system, roles, messages = messages[0]["content"], roles[1:], messages[1:]
    else:
        system = None
    if roles != ["user", "assistant"]:
        raise InputError(f"{where}: messages should be [system,] user, assistant (one turn); got "
                         f"{', '.join(map(str, roles))}")
    return Row(messages[1]["content"], messages[0]["content"], system)


def split_rows(rows: list[Row], eval_fraction: float, seed: int) -> tuple[list[Row], list[Row]]:
    """A seeded held-out split: round(fraction x rows), at least one row when the fraction is > 0."""
    if eval_fraction <= 0 or len(rows) < 2:
        return rows, []
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, round(eval_fraction * len(rows)))
    held = set(order[:n_eval])
    return [r for i, r in enumerate(rows) if i not in held], [rows[i] for i in sorted(held)]


# ---- rendering and tokenization --------------------------------------------------------------

def render(row: Row, template: str, tokenizer: Any) -> tuple[str, str]:
    """(prompt text, completion text) of a row in ``template`` (instruct, chat or raw)."""
    if template == "instruct":
        if row.prompt is not None:
            return row.prompt, row.response
        return render_prompt(row.instruction or "", system=row.system or SYSTEM), row.response
    if template == "raw":
        return (row.prompt if row.prompt is not None else row.instruction or ""), row.response
    messages = row.messages()
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise InputError("the chat template renders the prompt differently alone than inside the "
                         "conversation, so prompt and completion cannot be split; use template='instruct'")
    completion, eos = full[len(prompt):], tokenizer.eos_token or ""
    if eos and eos in completion:   # the turn ends at EOS; what the template writes after it is not learned
        completion = completion[: completion.rindex(eos) + len(eos)]
    return prompt, completion


def adds_special_tokens(template: str) -> bool:
    """A chat template writes its own BOS as text; the other templates rely on the tokenizer's rule."""
    return template != "chat"


def encode_pairs(pairs: list[tuple[str, str]], tokenizer: Any, template: str) -> tuple[list[Encoded], int]:
    """Token ids and labels of (prompt, completion) pairs, and how many had a boundary merge."""
    special = adds_special_tokens(template)
    prompts = tokenizer([p for p, _ in pairs], add_special_tokens=special)["input_ids"]
    fulls = tokenizer([p + c for p, c in pairs], add_special_tokens=special)["input_ids"]
    eos = tokenizer.eos_token_id
    out, merges = [], 0
    for (_, completion), p, full in zip(pairs, prompts, fulls):
        if full[: len(p)] == p:
            c = full[len(p):]
        else:
            merges += 1
            c = tokenizer(completion, add_special_tokens=False)["input_ids"]
        if not c or c[-1] != eos:
            c = c + [eos]
        out.append(Encoded(p + c, [IGNORE] * len(p) + c, len(p)))
    return out, merges


def encode_rows(rows: list[Row], tokenizer: Any, template: str, max_length: int,
                stats: DataStats) -> list[Encoded]:
    """Rendered, tokenized and length-checked rows; drops are counted in ``stats.dropped``."""
    pairs, kept = [], []
    for row in rows:
        if not row.response.strip():
            stats.dropped["empty_response"] += 1
            continue
        pairs.append(render(row, template, tokenizer))
    encoded, merges = encode_pairs(pairs, tokenizer, template) if pairs else ([], 0)
    stats.boundary_merges += merges
    for e in encoded:
        if len(e.input_ids) > max_length:
            stats.dropped["too_long"] += 1
            continue
        kept.append(e)
        stats.tokens += len(e.input_ids)
        stats.label_tokens += len(e.input_ids) - e.prompt_len
        stats.longest = max(stats.longest, len(e.input_ids))
    return kept


def to_dataset(encoded: list[Encoded]) -> Any:
    """A ``datasets.Dataset`` with ``input_ids`` and ``labels``: TRL takes it as already processed."""
    import datasets

    return datasets.Dataset.from_dict({"input_ids": [e.input_ids for e in encoded],
                                       "labels": [e.labels for e in encoded]})
