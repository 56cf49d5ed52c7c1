"""The prompts each benchmark shows a model, in instruct and base (plain completion) mode.

Instruct mode follows docs/method.md ("Evaluation prompts"): an instruction plus a response prefix that opens a python
fence (and, for HumanEval-style problems, repeats the function signature and docstring, so the
model completes the function instead of inventing another). Base mode is a plain completion of
the benchmark prompt. The wording is ours. Trade-off: one fixed wording per benchmark keeps
scores comparable across models, at the cost of not tuning prompts per model.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfalign.benchmarks import Problem


@dataclass(frozen=True)
class PromptSpec:
    instruction: str         # instruct mode: rendered with the instruct template
    response_prefix: str     # instruct mode: the model continues from this
    completion_prompt: str   # base mode: the model continues this text
    base_stops: tuple[str, ...]


def mbpp_parts(problem: Problem) -> tuple[str, str]:
    """(task description, first assert) of an MBPP or MBPP+ problem."""
    if problem.benchmark == "mbpp":
        return problem.prompt.strip(), problem.meta["test_list"][0].strip()
    body = problem.prompt.strip().strip('"').strip()
    lines = body.splitlines()
    asserts = [line for line in lines if line.strip().startswith("assert")]
    text = "\n".join(line for line in lines if not line.strip().startswith("assert")).strip()
    return text, (asserts[0].strip() if asserts else "")


def prompt_for(problem: Problem, repeat_prompt: bool = True) -> PromptSpec:
    """``repeat_prompt=False`` opens the fence without repeating the signature: tiny models
    tend to close a fence right after a repeated docstring."""
    if problem.benchmark in ("humaneval", "humaneval+"):
        return PromptSpec(
            "Complete the following Python function so that it does what its docstring says. "
            f"Answer with the whole function in one code block.\n\n```python\n{problem.prompt.strip()}\n```",
            f"```python\n{problem.prompt}" if repeat_prompt else "```python\n", problem.prompt,
            ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert "))
    if problem.benchmark in ("mbpp", "mbpp+"):
        text, test = mbpp_parts(problem)
        return PromptSpec(
            f"{text}\nYour code should pass the following assertion:\n```python\n{test}\n```",
            "```python\n", f'"""\n{text}\n{test}\n"""\n',
            ("\nassert ", '\n"""', "\nif __name__", "\nprint(", "\n# Test"))
    if problem.benchmark == "ds1000":
        return PromptSpec(
            f"{problem.prompt.strip()}\n\nWrite only the code that goes in the solution block.",
            "```python\n", problem.prompt, ("</code>", "# SOLUTION END", "\nEND SOLUTION"))
    starter = problem.meta.get("starter_code", "")
    how = (f"Use this starter code:\n```python\n{starter}\n```" if starter else
           "Read the input from standard input and write the answer to standard output.")
    return PromptSpec(f"{problem.prompt.strip()}\n\n{how}", "```python\n",
                      f'"""\n{problem.prompt.strip()}\n"""\n{starter}', ('\n"""',))
