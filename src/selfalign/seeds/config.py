"""The seeds stage's configuration: one flat dataclass loaded from the ``[seeds]`` TOML table.

Only simple field types (str, int, float, bool, list[str], str | None) so the project's config
loader can type-check every key; defaults mine the bundled demo corpus with the filters of
docs/method.md ("Seed filters"), the type check and decontamination on, and the model judge off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path


def demo_corpus() -> str:
    """Path of the bundled demo corpus: 39 CPython standard-library modules as one JSONL file
    (The Stack's columns), so the package carries no second copy of stdlib code as modules."""
    return str(resources.files("selfalign") / "data" / "corpus" / "cpython-3.11.jsonl.gz")


def portable_source(source: str, package: Path | None = None) -> str:
    """A seed source as it may be recorded or published: a file shipped inside the package
    (``package``, default: this installed selfalign) is named by its place there
    (``<selfalign>/data/corpus/...``), not by where this checkout or venv happens to live;
    anything else as given."""
    package = package or Path(str(resources.files("selfalign"))).resolve()
    try:
        inside = Path(source).expanduser().resolve().relative_to(package)
    except (ValueError, OSError):
        return source
    return f"<selfalign>/{inside.as_posix()}"


BANNED_WORDS = ["todo", "fixme", "bug"]
BANNED_IMPORTS = ["argparse", "os", "subprocess", "sys", "setuptools", "distutils",
                  "matplotlib", "seaborn"]
DEFAULT_BENCHMARKS = ["humaneval", "humaneval+", "mbpp", "mbpp+", "ds1000"]


@dataclass
class SeedsConfig:
    sources: list[str] = field(default_factory=lambda: [demo_corpus()], metadata={
        "help": "Where to mine: directories of .py files, git repositories (PATH or PATH@REVISION), "
                ".jsonl/.jsonl.gz/.parquet files, saved `datasets` directories, or hf:NAME."})
    text_column: str = field(default="content", metadata={
        "help": "Column holding the file text in JSONL/Parquet/datasets sources (The Stack: content)."})
    path_column: str = field(default="max_stars_repo_path", metadata={
        "help": "Column holding the file path in table sources; missing columns fall back to the row number."})
    license_column: str = field(default="max_stars_repo_licenses", metadata={
        "help": "Column holding the license(s) in table sources."})
    hf_split: str = field(default="train", metadata={"help": "Split read from hf:NAME sources."})
    max_file_bytes: int = field(default=1_000_000, metadata={
        "help": "Files larger than this are skipped with reason file:too_large."})
    include_methods: bool = field(default=False, metadata={
        "help": "Also mine methods of top-level classes (the original mined top-level functions only)."})
    require_return: bool = field(default=True, metadata={
        "help": "Drop functions without a `return <value>` (filter:no_return)."})
    min_args: int = field(default=1, metadata={
        "help": "Minimum number of arguments, not counting self/cls (filter:no_args)."})
    max_lines: int = field(default=150, metadata={"help": "Maximum function length in lines (filter:too_long)."})
    banned_words: list[str] = field(default_factory=lambda: list(BANNED_WORDS), metadata={
        "help": "Case-insensitive substrings that drop a function (filter:banned_word)."})
    banned_imports: list[str] = field(default_factory=lambda: list(BANNED_IMPORTS), metadata={
        "help": "Top-level modules a seed may not import (filter:banned_import)."})
    typecheck: bool = field(default=True, metadata={
        "help": "Drop functions with type errors under basedpyright/pyright (typecheck:error)."})
    typecheck_batch: int = field(default=2000, metadata={
        "help": "Functions checked per type-checker invocation."})
    decontaminate: bool = field(default=True, metadata={
        "help": "Drop functions overlapping benchmark prompts/solutions (decontam:exact, decontam:ngram)."})
    benchmarks: list[str] = field(default_factory=lambda: list(DEFAULT_BENCHMARKS), metadata={
        "help": "Benchmarks to decontaminate against (names known to selfalign.benchmarks); missing "
                "ones are skipped and listed in the manifest (a warning only for a list you set)."})
    benchmark_dir: str | None = field(default=None, metadata={
        "help": "Directory with benchmark data files (default: SELFALIGN_BENCHMARK_DIR or ../shared/data/benchmarks)."})
    benchmark_files: list[str] = field(default_factory=list, metadata={
        "help": "Extra files to decontaminate against: plain text (one document) or JSONL (every string field)."})
    decontam_ngram: int = field(default=10, metadata={"help": "Token n-gram length for overlap decontamination."})
    decontam_overlap: float = field(default=0.5, metadata={
        "help": "Drop a function covering at least this fraction of a benchmark text's n-grams."})
    exact_dedup: bool = field(default=True, metadata={"help": "Drop exact duplicates (dedup:exact)."})
    near_dedup: bool = field(default=True, metadata={"help": "Drop MinHash near-duplicates (dedup:near)."})
    near_dedup_threshold: float = field(default=0.5, metadata={"help": "Jaccard threshold for near-dedup."})
    num_perm: int = field(default=128, metadata={"help": "MinHash signature length."})
    shingle_size: int = field(default=5, metadata={"help": "Word n-gram length of MinHash shingles."})
    judge: bool = field(default=False, metadata={
        "help": "Ask the model whether the docstring suffices to re-implement the function (judge:no)."})
    judge_samples: int = field(default=3, metadata={"help": "Answers sampled per function; the majority decides."})
    judge_temperature: float = field(default=0.7, metadata={"help": "Sampling temperature of judge answers."})
    judge_batch: int = field(default=64, metadata={"help": "Functions per judge generate() call."})
    seed: int = field(default=0, metadata={"help": "Seed for judge sampling and MinHash hashing."})
    workers: int = field(default=0, metadata={"help": "Processes for extraction (0: one per CPU)."})
    limit: int = field(default=0, metadata={"help": "Stop after this many kept seeds (0: no limit)."})

    def __post_init__(self) -> None:
        if not 0.0 < self.near_dedup_threshold <= 1.0:
            raise ValueError(f"seeds.near_dedup_threshold must be in (0, 1], got {self.near_dedup_threshold}")
        if not 0.0 < self.decontam_overlap <= 1.0:
            raise ValueError(f"seeds.decontam_overlap must be in (0, 1], got {self.decontam_overlap}")
        for name in ("max_lines", "num_perm", "shingle_size", "decontam_ngram", "judge_samples",
                     "typecheck_batch", "judge_batch", "max_file_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"seeds.{name} must be at least 1, got {getattr(self, name)}")
