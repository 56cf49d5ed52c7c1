"""Imports go one way: floor -> libraries -> stages -> executors -> pipeline -> CLI.

Every ``import`` in src/selfalign (module level, inside functions and under TYPE_CHECKING alike)
is checked against the layer table below: a module may import its own package and anything in a
lower layer, never a peer package of the same layer nor a higher one. Library families follow the
pipeline (seeds < generate < curate < train < evaluate), and stage modules never import each
other. The checker itself is tested on planted backwards imports, so this test can fail.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "selfalign"

# Top-level module or package of selfalign -> layer. Lower layers know nothing of higher ones.
LAYERS = {
    "records": 0, "template": 0, "progress": 0, "config": 0, "text": 0,
    "store": 1,
    "manifest": 2, "lineage": 2,
    "llm": 3, "sandbox": 3, "benchmarks": 3,
    "cache": 4, "quality": 4, "respond": 4,
    "seeds": 5, "generate": 6, "curate": 7, "train": 8, "evaluate": 9,
    "settings": 10,
    "stages": 11,
    "executor": 12,
    "pipeline": 13,
    "experiment": 14,
    "report": 15,
    "cli": 16,
    "__init__": 17, "__main__": 17,
}
# Modules of the stages package that several stages share; the others are one stage each.
STAGE_SHARED = {"base", "context", "generation"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every selfalign module a source imports (relative imports resolved), without the prefix."""
    found: set[str] = set()
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("selfalign")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(["selfalign", *base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.startswith("selfalign"):
                found.add(target)
                found |= {f"{target}.{a.name}" for a in node.names}
    return {name.removeprefix("selfalign").lstrip(".") for name in found}


def violations(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """'a -> b' for every import of ``sources`` ({module: (source, is_package)}) against the layers."""
    known = set(sources)
    bad = []
    for module, (source, is_package) in sorted(sources.items()):
        top = module.split(".")[0] or "__init__"
        for target in sorted(imported_modules(source, module, is_package)):
            if target and target not in known and target.rsplit(".", 1)[0] in known:
                target = target.rsplit(".", 1)[0]   # `from pkg.mod import name`: the module
            if not target or (target not in known and target.split(".")[0] not in LAYERS):
                continue
            if not allowed(module, top, target):
                bad.append(f"{module} -> {target}")
    return bad


def allowed(module: str, top: str, target: str) -> bool:
    target_top = target.split(".")[0]
    if target_top == top:
        if top != "stages":
            return True
        source_leaf, target_leaf = module.split(".")[-1], target.split(".")[-1]
        return target_leaf in STAGE_SHARED or source_leaf == target_leaf
    return LAYERS[target_top] < LAYERS[top]


def tree_sources(root: Path) -> dict[str, tuple[str, bool]]:
    return {module_name(p, root) if p != root / "__init__.py" else "__init__":
            (p.read_text(encoding="utf-8"), p.name == "__init__.py")
            for p in root.rglob("*.py") if "__pycache__" not in p.parts}


def test_every_top_level_module_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
            if (p.suffix == ".py") or (p.is_dir() and (p / "__init__.py").exists())}
    assert tops <= set(LAYERS), f"add these to LAYERS: {sorted(tops - set(LAYERS))}"


def test_imports_go_one_way():
    assert violations(tree_sources(SRC)) == []


@pytest.mark.parametrize("module, source, culprit", [
    ("records", "from selfalign.pipeline import run_pipeline", "records -> pipeline"),
    ("config", "import selfalign.seeds.mine", "config -> seeds.mine"),
    ("seeds.mine", "def f():\n    from selfalign.curate import select", "seeds.mine -> curate.select"),
    ("sandbox.pool", "from ..llm import base", "sandbox.pool -> llm.base"),
    ("stages.concepts", "from selfalign.stages.responses import ResponsesStage", "stages.concepts -> stages.responses"),
    ("curate.select", "from selfalign.train.sft import x", "curate.select -> train.sft"),
])
def test_a_planted_backwards_import_is_caught(module, source, culprit):
    sources = tree_sources(SRC)
    sources.setdefault("train.sft", ("", False))
    original, is_package = sources[module]
    sources[module] = (original + "\n" + source + "\n", is_package)
    assert culprit in violations(sources)


def test_the_config_machinery_and_settings_load_no_numpy_and_no_stage_code():
    code = ("import sys, selfalign.settings, selfalign.config; "
            "bad = [m for m in sys.modules if m == 'numpy' or m.startswith(('selfalign.stages', "
            "'selfalign.pipeline', 'selfalign.seeds.mine', 'selfalign.quality'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
