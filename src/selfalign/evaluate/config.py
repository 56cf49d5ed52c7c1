"""The ``[eval]`` section: which benchmarks, how samples are generated, how they are scored.

Three tables, each one dataclass: ``[eval]`` (benchmarks, output, data files), ``[eval.generation]``
(sampling and prompt shape) and ``[eval.score]`` with ``[eval.score.time]`` (sandbox workers and
EvalPlus-style per-test limits). ``selfalign eval`` reads them from the run's TOML file with the
same ``--set`` overrides as ``selfalign run``; its flags are shortcuts for those keys. Values that
mean "none" are written as 0 or "" so every key can be set from TOML (which has no null).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selfalign.config import setting
from selfalign.evaluate.runtime import wall_limit

PREFIXES = ("prompt", "fence")
TEMPLATES = ("instruct", "native")


@dataclass
class GenerationConfig:
    n: int = setting("samples per problem", 1)
    temperature: float = setting("0 = greedy", 0.0)
    top_p: float = setting("nucleus sampling when temperature > 0", 0.95)
    max_tokens: int = setting("new tokens per sample", 512)
    base: bool = setting("plain completion (base model), no instruct template", False)
    seed: int = setting("sampling seed (per task and sample)", 0)
    batch_size: int = setting("problems per generate() call", 8)
    prefix: str = setting("instruct response prefix for HumanEval: 'prompt' (a fence plus the "
                          "repeated function prompt) or 'fence' (the fence alone)", "prompt")
    template: str = setting("how an instruction is put to the model: 'instruct' (the ### Instruction "
                            "/ ### Response template self-alignment trains) or 'native' (the model's "
                            "own chat template, as model cards report scores); not with base = true",
                            "instruct")

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ValueError(f"eval.generation.template must be one of {', '.join(TEMPLATES)}, "
                             f"got {self.template!r}")
        if self.base and self.template == "native":
            raise ValueError("eval.generation.base = true prompts with plain completion, which "
                             "excludes template = 'native'; set one of them")
        if self.prefix not in PREFIXES:
            raise ValueError(f"eval.generation.prefix must be one of {', '.join(PREFIXES)}, got {self.prefix!r}")
        if self.n < 1 or self.max_tokens < 1 or self.batch_size < 1:
            raise ValueError("eval.generation.n, max_tokens and batch_size must be at least 1")

    @property
    def repeat_prompt(self) -> bool:
        return self.prefix == "prompt"


@dataclass(frozen=True)
class TimeLimits:
    """EvalPlus-style per-test limits: max(floor, factor x the reference solution's time), both in
    CPU seconds (see runtime.py); the wall-clock backstops scale from them."""

    floor_s: float = setting("smallest limit per test, CPU seconds (EvalPlus: 1 s of wall time)", 0.25)
    factor: float = setting("multiple of the reference run time", 4.0)
    program_cap_s: float = setting("wall time one program may take beyond factor x the reference's "
                                   "total time", 60.0)

    def __post_init__(self) -> None:
        if self.floor_s < 0 or self.factor <= 0 or self.program_cap_s <= 0:
            raise ValueError("eval.score.time: floor_s must be >= 0, factor and program_cap_s > 0")

    def per_test(self, reference_s: float) -> float:
        return max(self.floor_s, self.factor * reference_s)

    def program(self, per_test: list[float], reference_s: list[float]) -> float:
        """The sandbox's wall-clock backstop for a whole program (code that ignores the timers)."""
        return min(wall_limit(sum(per_test)), self.program_cap_s + self.factor * sum(reference_s)) + 2.0


@dataclass
class ScoreConfig:
    workers: int = setting("sandbox workers; 0 = one per usable CPU", 0)
    time: TimeLimits = setting("per-test time limits", factory=TimeLimits)
    memory_mb: int = setting("memory cap per program, MiB", 4096)
    cache_dir: str = setting("cache of reference runs (files go under <dir>/reference/); "
                             "empty = $SELFALIGN_CACHE_DIR or ~/.cache/selfalign", "")
    test_timeout_s: float = setting("LiveCodeBench limit per test case, seconds", 6.0)
    ds1000_timeout_s: float = setting("DS-1000 limit per problem, seconds", 120.0)

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError(f"eval.score.workers must be >= 0 (0 = one per CPU), got {self.workers}")
        if self.memory_mb < 1 or self.test_timeout_s <= 0 or self.ds1000_timeout_s <= 0:
            raise ValueError("eval.score.memory_mb, test_timeout_s and ds1000_timeout_s must be > 0")


@dataclass
class EvalConfig:
    benchmarks: list[str] = setting("humaneval, humaneval+, humaneval+mini, mbpp, mbpp+, ds1000, "
                                    "livecodebench", factory=lambda: ["humaneval"])
    output_dir: str = setting("where samples, verdicts and results.json go", "eval-out")
    limit: int = setting("only the first N problems of each benchmark; 0 = all", 0)
    data: dict[str, str] = setting("benchmark name -> data file (needed for ds1000 and livecodebench)",
                                   factory=dict)
    livecodebench_start: str = setting("LiveCodeBench: first contest date (YYYY-MM-DD); empty = any", "")
    livecodebench_end: str = setting("LiveCodeBench: last contest date (YYYY-MM-DD); empty = any", "")
    allow_partial: bool = setting("score a sample file that lacks some of the benchmark's problems "
                                  "(pass@k over those it has; coverage is reported)", False)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)

    def __post_init__(self) -> None:
        if not self.benchmarks:
            raise ValueError("eval.benchmarks is empty: name at least one benchmark")
        if self.limit < 0:
            raise ValueError(f"eval.limit must be >= 0 (0 = all), got {self.limit}")
