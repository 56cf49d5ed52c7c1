"""The whole seeds stage on the bundled demo corpus and on small literal corpora."""

from __future__ import annotations

from collections import Counter

import pytest

from selfalign.llm.base import LLM, Completion, Result
from selfalign.records import Dropped, Seed
from selfalign.seeds.config import SeedsConfig
from selfalign.seeds.mine import mine_seeds
from selfalign.seeds.judge import parse_answer, render


def run(cfg: SeedsConfig, llm=None) -> tuple[list[Seed], Counter]:
    items = list(mine_seeds(cfg, llm=llm, progress=False))
    return [i for i in items if isinstance(i, Seed)], Counter(i.reason for i in items if isinstance(i, Dropped))


@pytest.mark.slow
def test_demo_corpus_end_to_end_is_deterministic():
    seeds, reasons = run(SeedsConfig())
    assert len(seeds) >= 100
    assert {"extract:no_docstring", "filter:no_return", "typecheck:error", "dedup:near"} <= set(reasons)
    assert all(s.license and s.license.startswith("PSF-2.0") for s in seeds)
    assert all(s.path.startswith("Lib/") and 0 < s.start_line <= s.end_line for s in seeds)
    assert all(s.source.endswith("cpython-3.11.jsonl.gz") for s in seeds)
    assert len({s.id for s in seeds}) == len(seeds)
    again, _ = run(SeedsConfig(workers=1, typecheck=False))
    assert [s.id for s in seeds] == [s.id for s in again if s.id in {x.id for x in seeds}]


def test_duplicates_and_contamination_are_dropped_with_reasons(tmp_path):
    from selfalign.benchmarks import load
    body = ('def scale(values, factor, offset=0):\n'
            '    """Multiply every value by factor, add offset, and return the new list.\n\n'
            '    Values that are None stay None; everything else must be a number."""\n'
            '    result = []\n'
            '    for value in values:\n'
            '        result.append(None if value is None else value * factor + offset)\n'
            '    return result\n')
    near = body.replace("everything else must be a number", "all other values must be numbers")
    (tmp_path / "a.py").write_text(body)
    (tmp_path / "b.py").write_text(body + "\n\n")                       # exact copy
    (tmp_path / "c.py").write_text(near)                                 # near copy
    (tmp_path / "d.py").write_text(load("humaneval")[2].prompt + "    return number % 1.0\n")
    seeds, reasons = run(SeedsConfig(sources=[str(tmp_path)], typecheck=False, benchmarks=["humaneval"]))
    assert [(s.path, s.name) for s in seeds] == [("a.py", "scale")]
    assert reasons == Counter({"dedup:exact": 1, "dedup:near": 1, "decontam:exact": 1})


def test_default_benchmarks_missing_here_are_recorded_not_warned(tmp_path, monkeypatch, caplog):
    from selfalign.seeds.config import DEFAULT_BENCHMARKS

    monkeypatch.setenv("SELFALIGN_BENCHMARK_DIR", str(tmp_path / "none"))   # only HumanEval is left
    (tmp_path / "a.py").write_text('def f(x):\n    """Return x plus one, always."""\n    return x + 1\n')
    found: dict = {}
    cfg = SeedsConfig(sources=[str(tmp_path)], typecheck=False, near_dedup=False)
    with caplog.at_level("WARNING"):
        items = list(mine_seeds(cfg, progress=False, decontamination=found))
    assert [i.name for i in items if isinstance(i, Seed)] == ["f"]
    assert not [r for r in caplog.records if "not available" in r.getMessage()]
    assert list(found["against"]) == ["humaneval"]
    assert set(found["unavailable"]) == set(DEFAULT_BENCHMARKS) - {"humaneval"}


def test_limit_keeps_the_first_seeds(tmp_path):
    for i in range(5):
        (tmp_path / f"m{i}.py").write_text(f'def f{i}(x):\n    """Return x plus {i} in a way number {i}."""\n    return x + {i} * {i}\n')
    seeds, _ = run(SeedsConfig(sources=[str(tmp_path)], typecheck=False, decontaminate=False,
                               near_dedup=False, limit=2))
    assert [s.name for s in seeds] == ["f0", "f1"]


class TableLLM(LLM):
    """A backend that answers from a fixed list per prompt (the judge logic under test is ours;
    the model is not)."""

    backend = "table"

    def __init__(self, answers: dict[str, list[str]]) -> None:
        super().__init__("table")
        self.answers, self.requests = answers, []

    def generate(self, requests):
        self.requests += requests
        out = []
        for r in requests:
            name = r.prompt.rsplit("def ", 1)[1].split("(")[0]
            out.append(Result([Completion(t, "stop") for t in self.answers[name][: r.params.n]]))
        return out


def test_judge_majority_decides(tmp_path):
    for name in ("keep", "drop", "tie"):
        (tmp_path / f"{name}.py").write_text(f'def {name}(x):\n    """Return {name} of x as text."""\n    return "{name}" + str(x)\n')
    llm = TableLLM({"keep": ["Yes", " yes.", "No"], "drop": ["No", "Yes", "no"], "tie": ["Maybe", "Yes", "No"]})
    cfg = SeedsConfig(sources=[str(tmp_path)], typecheck=False, decontaminate=False, near_dedup=False,
                      judge=True, judge_samples=3, seed=7)
    seeds, reasons = run(cfg, llm)
    assert [s.name for s in seeds] == ["keep"] and reasons == Counter({"judge:no": 2})
    params = {r.params for r in llm.requests}
    assert all(p.n == 3 and p.temperature == 0.7 and p.seed is not None and p.stop == ("\n",) for p in params)
    again = TableLLM(llm.answers)
    run(cfg, again)
    assert len(params) == 3 and {r.params for r in again.requests} == params   # same seeds: cache hits


def test_judge_prompt_and_answers():
    prompt = render("def f(x):\n    '''Doc.'''\n    return x\n")
    assert prompt.endswith("return x\n```\n### Enough\n")
    assert prompt.count("### Function") == 7 and "Yes" in prompt and "No" in prompt
    assert [parse_answer(a) for a in (" Yes", "no.", "YES it is", "", "maybe")] == [True, False, True, None, None]


def test_judge_without_a_model_is_a_clear_error():
    with pytest.raises(ValueError, match="no model"):
        list(mine_seeds(SeedsConfig(judge=True), llm=None, progress=False))
