"""What the three generation stages share: the prompt format (completion or chat, see
``generate/prompts.py``), one LLM call per chunk, and each completion turned into a record or a
drop (truncated outputs are always dropped, never repaired). The format a stage really used is
written into every record's ``meta`` and drop, and summed up in the manifest (``summary``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from selfalign.generate.parse import Drop
from selfalign.generate.prompts import FewShot
from selfalign.llm.base import LLM, Completion, LLMError, Request, Result, SamplingParams
from selfalign.records import Dropped, Record
from selfalign.stages.base import sampling_seed
from selfalign.store import iter_jsonl


def sampling(seed: int, stage: str, index: int, temperature: float, max_tokens: int,
             stop: tuple[str, ...], n: int = 1) -> SamplingParams:
    return SamplingParams(temperature=temperature, max_tokens=max_tokens, stop=stop, n=n,
                          seed=sampling_seed(seed, stage, index))


def prompt_format(llm: LLM, wanted: str, stage: str) -> str:
    """``completion`` or ``chat``: ``auto`` is chat when the model has a chat template."""
    if wanted == "completion":
        return "completion"
    if llm.chat_template() is None:
        if wanted == "chat":
            raise LLMError(f"{stage}.format = 'chat' but {llm.name} has no chat template; set "
                           f"{stage}.format to 'completion' or 'auto'")
        return "completion"
    return "chat"


def render(llm: LLM, shots: FewShot, fmt: str) -> str:
    return llm.render_chat(shots.messages()) if fmt == "chat" else shots.completion()


def stops(llm: LLM, fmt: str, completion: tuple[str, ...], both: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Stop sequences of a format: ``completion``'s, or the end of the assistant's turn for chat;
    ``both`` apply in either format."""
    return both + (llm.chat_stops() if fmt == "chat" else completion)


def usage(c: Completion) -> dict[str, Any]:
    used = {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
            "finish_reason": c.finish_reason}
    if getattr(c, "tests_asked", False):   # an answer continued for its tests (responses.ask_tests)
        used["tests_asked"] = True
    return used


def generate_records(llm: LLM, requests: list[Request], parents: Sequence[Record],
                     build: Callable[[Any, Completion, int], Record | Drop],
                     fmt: str = "completion") -> Iterator[Record | Dropped]:
    """One LLM call for the chunk; ``build(parent, completion, sample_index)`` makes each record."""
    yield from records_from(parents, llm.generate(requests), build, fmt)


def records_from(parents: Sequence[Record], results: Sequence[Result],
                 build: Callable[[Any, Completion, int], Record | Drop],
                 fmt: str = "completion") -> Iterator[Record | Dropped]:
    """Each completion of each parent's result as a record or a drop. A drop carries what it
    answered (the instruction of a response, the concepts of an instruction), so a dropped row
    can be read without looking its parent up."""
    for parent, result in zip(parents, results):
        asked = {k: getattr(parent, k) for k in ("instruction", "concepts") if hasattr(parent, k)}
        for j, completion in enumerate(result.completions):
            base = {"parent_id": parent.id, **asked, "sample": j, "raw": completion.text,
                    **usage(completion), "format": fmt}
            if completion.truncated:
                yield Dropped("truncated", base, f"hit max_tokens after {completion.completion_tokens} tokens")
                continue
            made = build(parent, completion, j)
            if isinstance(made, Drop):
                yield Dropped(made.reason, base, made.detail)
            else:
                meta = getattr(made, "meta", None)   # every generated record has one
                if isinstance(meta, dict):
                    meta["format"] = fmt
                yield made


def output_fields(run_dir: Path, stage: str) -> Iterator[tuple[bool, dict[str, Any]]]:
    """(kept, generation fields) of every output of a generation stage: a record's ``meta``, a
    drop's ``record`` fields, read from the stage's files as they are."""
    for name, kept in ((f"{stage}.jsonl", True), (f"{stage}.dropped.jsonl", False)):
        if not (run_dir / name).is_file():
            continue
        for _, row in iter_jsonl(run_dir / name):
            if isinstance(row, dict):
                fields = row.get("record") if "reason" in row else row.get("meta")
                if isinstance(fields, dict):
                    yield kept, fields


def formats_used(run_dir: Path, stage: str) -> dict[str, Any]:
    """The manifest's summary of a generation stage: the prompt format(s) its outputs were
    generated in, read from the outputs (a resumed stage reports what really ran)."""
    seen = {f["format"] for _, f in output_fields(run_dir, stage) if isinstance(f.get("format"), str)}
    return {"format": sorted(seen)}
