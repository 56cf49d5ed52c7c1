"""What collecting pytest/unittest-style tests changes on a real run's answers.

For every response of RUN_DIR (``responses.jsonl``) whose tests hold something to collect
(top-level ``test_*`` functions, ``Test*`` classes, ``unittest.TestCase`` subclasses), run its
solution twice in the sandbox, in one batch: with the tests as written (a plain program, what a
harness without collection runs) and with ``collect_tests`` (what the execute stage runs). Each
run's verdict is combined with curation's test-strength check for that mode (``analyze(...,
collected=...)``), and every answer is put in one of these classes:

  vacuous pass  the program passed but no assertion ran (curation drops it: tests:no_running_assert)
  pass          passed, and assertions ran
  fail          a test failed (or errored, timed out)

and the script prints, per class without collection, where the same answers land with it: the
answers that collection turns from a vacuous pass or a crash (``unittest.main()`` exits) into a
real verdict.

    python bench/collection.py runs/qwen40 [--limit N]
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path


def classify(status: str, asserts: int) -> str:
    if status != "pass":
        return f"fail ({status})"
    return "pass" if asserts > 0 else "vacuous pass"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--limit", type=int, default=0, help="at most this many responses (0 = all)")
    args = parser.parse_args()

    from selfalign.curate.collect import collect_tests
    from selfalign.curate.tests_strength import analyze
    from selfalign.records import Response
    from selfalign.sandbox import Program, Sandbox
    from selfalign.sandbox.config import Limits
    from selfalign.store import read_records

    path = Path(args.run_dir) / "responses.jsonl"
    responses = [r for r in read_records(path, "response") if isinstance(r, Response)]
    if args.limit:
        responses = responses[: args.limit]
    collectable = [r for r in responses if collect_tests(r.tests) != r.tests]
    print(f"{path}: {len(responses)} responses with tests; {len(collectable)} hold pytest/unittest-style "
          f"tests to collect")
    if not collectable:
        return 0
    programs = []
    for r in collectable:
        programs += [Program(id=f"{r.id}/plain", code=r.solution, tests=r.tests),
                     Program(id=f"{r.id}/collected", code=r.solution, tests=collect_tests(r.tests))]
    verdicts = {}
    with Sandbox(Limits(timeout_s=10.0)) as sandbox:
        for program, result in sandbox.run(programs):
            verdicts[program.id] = result.status
    moves: collections.Counter[tuple[str, str]] = collections.Counter()
    for r in collectable:
        plain = classify(verdicts[f"{r.id}/plain"], analyze(r.solution, r.tests, collected=False).asserts)
        collected = classify(verdicts[f"{r.id}/collected"], analyze(r.solution, r.tests, collected=True).asserts)
        moves[plain, collected] += 1
    print(f"{'without collection':<24} {'with collection':<24} answers")
    for (plain, collected), n in sorted(moves.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{plain:<24} {collected:<24} {n}")
    # a real verdict now: not a vacuous pass, and different from what a plain run gave
    real = sum(n for (plain, collected), n in moves.items()
               if plain != "pass" and collected != "vacuous pass" and plain != collected)
    print(f"collection turned {real} of {len(collectable)} such answers (of {len(responses)} in all) from a "
          f"vacuous pass or a crash into a real verdict")
    return 0


if __name__ == "__main__":
    sys.exit(main())
