"""The ``[curate]`` section: how executed responses become SFT examples (docs/curation.md).

Defaults follow the method (docs/method.md, "Curation"): one passing response per instruction
drawn at random, tests that mean something (a running assert that calls the solution and fails
against a stub), instructions capped at 200 words, exact and MinHash dedup (5-gram word
shingles, 250 permutations, Jaccard 0.7), decontamination against every local benchmark, tests
stripped from the answer. Assertion augmentation is off unless ``augment_p`` is set (the
original used 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

from selfalign.config import setting
from selfalign.seeds.config import DEFAULT_BENCHMARKS

POLICIES = ("passing", "random", "failing")
PREFERENCES = ("random", "shortest", "most_asserts")
NEAR_DEDUP_FIELDS = ("instruction", "response", "code")


@dataclass
class CurateConfig:
    policy: str = setting("which responses may be chosen: passing (the method), random (any "
                          "response) or failing (only failing ones); the last two are the paper's "
                          "ablations and keep as many rows as passing would", "passing")
    prefer: str = setting("which of an instruction's candidates is chosen: random (seeded draw), "
                          "shortest (training response), most_asserts (assertions that run)", "random")
    max_instruction_words: int = setting("drop instructions longer than this", 200)
    tests_check: bool = setting("drop passes whose tests run no assertion, redefine the solution "
                                "or never call it (tests:*)", True)
    stub_check: bool = setting("drop passes whose tests also pass against a stub of the solution "
                               "(every function body `return None`): tests:pass_stub", True)
    stub_timeout_s: float = setting("time limit of a stub run; a stub that runs out of time has "
                                    "not passed", 3.0)
    drop_placeholders: bool = setting("drop answers with TODO, 'your code here' or functions whose "
                                      "body is only pass / ... / raise NotImplementedError", True)
    exact_dedup: bool = setting("drop exact (whitespace-normalised) duplicate instructions and "
                                "training responses", True)
    near_dedup: list[str] = setting("fields deduplicated with MinHash: any of instruction, "
                                    "response, code ([] turns near-dedup off)",
                                    factory=lambda: ["instruction", "code"])
    num_perm: int = setting("MinHash signature length", 250)
    shingle_size: int = setting("word n-gram length of MinHash shingles", 5)
    threshold: float = setting("Jaccard similarity from which two texts are near-duplicates", 0.7)
    diverse_names: bool = setting("among near-duplicate code keep the answer whose function name "
                                  "is rarest so far (else the first by instruction id)", True)
    decontaminate: bool = setting("drop rows whose instruction or response overlaps a benchmark "
                                  "(decontam:exact, decontam:ngram, decontam:function)", True)
    benchmarks: list[str] = setting("benchmarks to decontaminate against; missing ones are skipped "
                                    "and listed in the manifest (a warning only for a list you set)",
                                    factory=lambda: list(DEFAULT_BENCHMARKS))
    benchmark_dir: str | None = setting("directory with benchmark data files (default: "
                                        "SELFALIGN_BENCHMARK_DIR or ../shared/data/benchmarks)", None)
    benchmark_files: list[str] = setting("extra files to decontaminate against: plain text or JSONL",
                                         factory=list)
    decontam_ngram: int = setting("word n-gram length for overlap decontamination", 10)
    decontam_overlap: float = setting("drop a text covering at least this fraction of a "
                                      "benchmark text's n-grams", 0.5)
    strip_tests: bool = setting("cut the tests section from the training response (kept when the "
                                "instruction asks for tests)", True)
    augment_p: float = setting("probability of appending some passing asserts to the instruction "
                               "(\"Your code should pass these assertions:\"); the original used 0.5", 0.0)
    augment_max: int = setting("at most this many asserts are appended (at least 1)", 5)
    system_message: bool = setting("start each `messages` row of the dataset with the template's "
                                   "system sentence", True)
    spool_dir: str = setting("where rows wait on disk during curation (default: the system's "
                             "temporary directory)", "")

    def __post_init__(self) -> None:
        _one_of("policy", self.policy, POLICIES)
        _one_of("prefer", self.prefer, PREFERENCES)
        for name in self.near_dedup:
            _one_of("near_dedup", name, NEAR_DEDUP_FIELDS)
        for name in ("max_instruction_words", "num_perm", "shingle_size", "decontam_ngram", "augment_max"):
            if getattr(self, name) < 1:
                raise ValueError(f"curate.{name} must be at least 1, got {getattr(self, name)}")
        for name in ("threshold", "decontam_overlap"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"curate.{name} must be in (0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.augment_p <= 1.0:
            raise ValueError(f"curate.augment_p must be in [0, 1], got {self.augment_p}")
        if self.stub_timeout_s <= 0:
            raise ValueError(f"curate.stub_timeout_s must be > 0, got {self.stub_timeout_s}")


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"curate.{key} must be one of {', '.join(allowed)}, got {value!r}")
