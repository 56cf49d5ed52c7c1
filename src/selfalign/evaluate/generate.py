"""Generate samples for a benchmark with any LLM backend, appending them to a resumable file.

Greedy (temperature 0, n=1) by default; n samples with a temperature for pass@k. The instruction
is put to the model in the instruct template self-alignment trains, or (``template = "native"``)
as one user turn in the model's own chat template, with the same response prefix after it (the
way EvalPlus prompts chat models), so the two differ only in the template. Requests go to
the backend in batches of problems, each asking for the samples that task still lacks, so a killed
run restarts where it stopped (see ``samples.py``). Trade-off: a batch is written only when it
is complete, so a kill loses up to one batch of generation; smaller batches lose less but give
batching backends (vLLM) less to work with.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from selfalign.benchmarks import Problem
from selfalign.evaluate.config import GenerationConfig
from selfalign.evaluate.extract import extract_code, truncate_completion
from selfalign.evaluate.prompts import prompt_for
from selfalign.evaluate.samples import Sample, SampleWriter
from selfalign.llm.base import LLM, Completion, Request, SamplingParams
from selfalign.template import STOP, cut_response, render_prompt


def build_request(problem: Problem, config: GenerationConfig, sample: int, llm: LLM | None = None) -> Request:
    """``llm`` renders the native template (needed only with ``template = "native"``)."""
    spec = prompt_for(problem, config.repeat_prompt)
    greedy = config.temperature == 0
    if config.base:
        prompt, stop = spec.completion_prompt, spec.base_stops
    elif config.template == "native":
        if llm is None:
            raise ValueError("the native template is the model's own: build_request needs the llm")
        prompt = llm.render_chat([{"role": "user", "content": spec.instruction}]) + spec.response_prefix
        stop = llm.chat_stops()
    else:
        prompt, stop = render_prompt(spec.instruction, spec.response_prefix), (STOP,)
    params = SamplingParams(
        temperature=config.temperature, top_p=1.0 if greedy else config.top_p,
        max_tokens=config.max_tokens, n=1, stop=stop,
        seed=None if greedy else config.seed + 1000 * sample + hash_task(problem.task_id))
    return Request(prompt, params)


def generation_identity(config: GenerationConfig) -> dict[str, Any]:
    """The settings a sample depends on. Not ``n`` (more samples extend a file: sample i's seed
    does not depend on n) nor ``batch_size``; top_p and the seed only when sampling."""
    greedy = config.temperature == 0
    identity = {"temperature": config.temperature, "top_p": None if greedy else config.top_p,
                "seed": None if greedy else config.seed, "max_tokens": config.max_tokens,
                "base": config.base, "prefix": config.prefix}
    # Named only when not the default, so sample files written before the key existed resume.
    if config.template != "instruct":
        identity["template"] = config.template
    return identity


def hash_task(task_id: str) -> int:
    """A stable small integer per task (Python's hash() is salted per process)."""
    return sum((i + 1) * ord(ch) for i, ch in enumerate(task_id)) % 100_003


def to_sample(problem: Problem, config: GenerationConfig, index: int, completion: Completion) -> Sample:
    spec = prompt_for(problem, config.repeat_prompt)
    if config.base:
        body = truncate_completion(completion.text, spec.base_stops)
        raw = completion.text
        # HumanEval completes the function the prompt opened; elsewhere the prompt is prose.
        code = spec.completion_prompt + body if problem.benchmark in ("humaneval", "humaneval+") else body
    elif config.template == "native":   # the turn ended at the template's own end marker
        raw = spec.response_prefix + completion.text
        code = extract_code(raw)
    else:
        raw = cut_response(spec.response_prefix, completion.text)
        code = extract_code(raw)
    if problem.benchmark == "ds1000":     # DS-1000 answers sit in <code> ... </code>
        code = code.split("</code>")[0].split("END SOLUTION")[0].replace("<code>", "")
    return Sample(problem.task_id, index, code, raw=raw,
                  meta={"finish_reason": completion.finish_reason,
                        "completion_tokens": completion.completion_tokens})


def generate_samples(llm: LLM, problems: Sequence[Problem], writer: SampleWriter,
                     config: GenerationConfig, progress: Callable[[int], None] | None = None) -> None:
    """Fill ``writer``'s file with ``config.n`` samples for every problem (resuming)."""
    todo = [(p, i) for p in problems for i in writer.missing(p.task_id, config.n)]
    done_tasks = len(problems) - len({p.task_id for p, _ in todo})
    if progress and done_tasks:
        progress(done_tasks)
    for start in range(0, len(todo), config.batch_size * config.n):
        batch = todo[start:start + config.batch_size * config.n]
        results = llm.generate([build_request(p, config, i, llm) for p, i in batch])
        by_task: dict[str, list[Sample]] = {}
        for (problem, index), result in zip(batch, results):
            by_task.setdefault(problem.task_id, []).append(
                to_sample(problem, config, index, result.completions[0]))
        for samples in by_task.values():
            writer.write(samples)
        if progress:
            progress(len({p.task_id for p, i in batch if i == config.n - 1}))
