"""Checks on selfalign's own few-shot pool (src/selfalign/prompts/): format, spread and correctness.

The pool is data the model imitates, so a wrong example teaches wrong code. Beyond field and
format checks, every example's solution is executed against its own tests, and the tests are run
twice more against no solution and against a stubbed one, to show they can fail. The examples are
our own trusted files, so a plain subprocess (isolated interpreter, timeout) is enough here.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest

import selfalign
from selfalign.generate.parse import parse_response, strip_tests
from selfalign.generate.pool import load_pool

POOL_DIR = Path(selfalign.__file__).parent / "prompts"
EXAMPLE_FILES = sorted((POOL_DIR / "examples").glob("*.toml"))
FIELDS = {"category", "difficulty", "language", "seed", "concepts", "instruction", "response"}
CATEGORIES = {"function", "class", "program"}
DIFFICULTIES = {"easy", "medium", "hard"}
RESPONSE = re.compile(
    r"\AReasoning: (?P<reasoning>.+?)\n\n"
    r"Solution:\n```python\n(?P<solution>.+?)\n```\n\n"
    r"Tests:\n```python\n(?P<tests>.+?)\n```\Z",
    re.DOTALL,
)
# Modules whose use would mean file, network or process I/O, which the task rules out.
IO_MODULES = {"os", "pathlib", "shutil", "socket", "subprocess", "urllib", "http", "tempfile", "glob"}
RUN_TIMEOUT_S = 20


def load(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def split_response(path: Path) -> re.Match:
    match = RESPONSE.match(load(path)["response"].strip())
    assert match, f"{path.name}: response is not 'Reasoning: ... Solution: ```python``` Tests: ```python```'"
    return match


def top_level_names(code: str) -> set[str]:
    tree = ast.parse(code)
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def run_python(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    return subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, cwd=tmp_path)


def stub_bodies(code: str) -> str:
    """The solution with every function and method body replaced by ``return None``."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.body = [ast.Return(value=ast.Constant(value=None))]
    return ast.unparse(tree)


def text_fields(data: dict) -> list[tuple[str, str]]:
    pairs = [(key, value) for key, value in data.items() if isinstance(value, str)]
    return pairs + [("concepts", item) for item in data.get("concepts", []) if isinstance(item, str)]


ids = [path.stem for path in EXAMPLE_FILES]


def test_pool_size_and_spread():
    examples = [load(path) for path in EXAMPLE_FILES]
    assert len(examples) >= 16
    categories = Counter(e["category"] for e in examples)
    difficulties = Counter(e["difficulty"] for e in examples)
    assert set(categories) == CATEGORIES and set(difficulties) == DIFFICULTIES
    # a rough balance: about half functions, the rest split between classes and programs
    assert all(count >= 3 for count in (*categories.values(), *difficulties.values()))
    assert categories["function"] <= len(examples) * 0.6


def test_file_names_are_numbered_and_unique():
    numbers = [path.name[:2] for path in EXAMPLE_FILES]
    assert all(re.fullmatch(r"\d\d-[a-z0-9]+(?:-[a-z0-9]+)*\.toml", path.name) for path in EXAMPLE_FILES)
    assert len(set(numbers)) == len(numbers)


def test_system_texts():
    system = load(POOL_DIR / "system.toml")
    assert set(system) == {"concepts", "instructions", "responses"}
    for key, text in system.items():
        assert isinstance(text, str) and 20 <= len(text.split()) <= 120, key
        assert "\n\n" not in text.strip(), f"{key}: should be one paragraph"
        assert "###" not in text and not any(ln.lstrip().startswith("##") for ln in text.splitlines())


def test_lead_loader_reads_the_whole_pool():
    pool = load_pool(str(POOL_DIR))
    assert [example.name for example in pool.examples] == ids
    assert set(pool.system) == {"concepts", "instructions", "responses"}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids)
def test_fields_and_values(path):
    data = load(path)
    assert set(data) == FIELDS
    assert data["category"] in CATEGORIES and data["difficulty"] in DIFFICULTIES
    assert data["language"] == "Python"
    for key in FIELDS - {"concepts"}:
        assert isinstance(data[key], str) and data[key].strip(), key


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids)
def test_no_prompt_separators(path):
    for key, text in text_fields(load(path)):
        assert "###" not in text, f"{path.name}: {key} contains '###' (the stop sequence)"
        for number, line in enumerate(text.splitlines(), 1):
            assert not line.lstrip().startswith("##"), f"{path.name}: {key} line {number} starts with '##'"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids)
def test_concepts(path):
    concepts = load(path)["concepts"]
    assert isinstance(concepts, list) and 3 <= len(concepts) <= 7
    assert all(isinstance(c, str) and c.strip() == c and c for c in concepts)
    # prompts join concepts with ", " and the parser splits on commas and drops long items
    assert all("," not in c and len(c.split()) <= 8 for c in concepts)
    assert len({c.lower() for c in concepts}) == len(concepts)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids)
def test_seed_is_a_documented_function(path):
    tree = ast.parse(load(path)["seed"])
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    assert functions and ast.get_docstring(functions[0])


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids)
def test_instruction_is_a_new_task(path):
    data = load(path)
    instruction = data["instruction"].strip()
    assert 40 <= len(instruction.split()) <= 150
    assert instruction != data["seed"].strip()
    solution_names = top_level_names(split_response(path)["solution"])
    seed_names = top_level_names(data["seed"])
    assert not seed_names & solution_names, "the task should not re-implement the seed function"
    public = {name for name in solution_names if not name.startswith("_")}
    assert any(f"`{name}" in instruction for name in public), "instruction must name what to write"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids)
def test_response_shape(path):
    data = load(path)
    parts = split_response(path)
    sentences = re.findall(r"[.!?](?=\s|$)", parts["reasoning"])
    assert 2 <= len(sentences) <= 6
    tests_tree = ast.parse(parts["tests"])
    assert 5 <= sum(isinstance(node, ast.Assert) for node in ast.walk(tests_tree)) <= 10
    solution = ast.parse(parts["solution"])
    has_main = any(isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in solution.body)
    assert has_main == (data["category"] == "program")
    if data["category"] == "class":
        assert any(isinstance(node, ast.ClassDef) for node in solution.body)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids)
def test_solution_uses_only_stdlib_without_io(path):
    solution = ast.parse(split_response(path)["solution"])
    modules = set()
    for node in ast.walk(solution):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"open", "exec", "eval", "input"}, node.func.id
    assert modules <= set(sys.stdlib_module_names), modules - set(sys.stdlib_module_names)
    assert not modules & IO_MODULES


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids)
def test_lead_parser_agrees(path):
    response = load(path)["response"].strip()
    parts = split_response(path)
    parsed = parse_response(response)
    assert (parsed.solution, parsed.tests) == (parts["solution"], parts["tests"])
    training_text = strip_tests(response)
    assert training_text.endswith("```") and "Tests:" not in training_text and parts["solution"] in training_text


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids)
def test_solution_passes_its_tests(path, tmp_path):
    parts = split_response(path)
    result = run_python(tmp_path, f"{parts['solution']}\n\n\n{parts['tests']}\n")
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids)
def test_tests_fail_without_the_solution(path, tmp_path):
    result = run_python(tmp_path, split_response(path)["tests"] + "\n")
    assert result.returncode != 0
    assert re.search(r"^(NameError|AssertionError)\b", result.stderr, re.MULTILINE), result.stderr[-2000:]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids)
def test_tests_fail_against_a_stubbed_solution(path, tmp_path):
    parts = split_response(path)
    result = run_python(tmp_path, f"{stub_bodies(parts['solution'])}\n\n\n{parts['tests']}\n")
    assert result.returncode != 0, "the tests pass even when every function returns None"
