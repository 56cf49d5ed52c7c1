"""Evaluation: generate samples for code benchmarks, score them in the sandbox, report pass@k.

config (the ``[eval]`` section) -> prompts -> generate (resumable samples) -> programs + runtime
(what runs in the sandbox) -> reference (expected outputs and timings of the reference solutions)
-> score -> results -> compare.
Benchmark data comes from ``selfalign.benchmarks``. See docs/evaluation.md.
"""
