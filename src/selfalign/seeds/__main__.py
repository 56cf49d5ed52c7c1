"""``python -m selfalign.seeds [SOURCE ...]``: mine seeds and print the funnel and wall time.

A developer's tool for measuring the stage on a corpus without a run directory; the pipeline's
own ``selfalign seeds`` command is the user-facing entry point.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

from .config import SeedsConfig
from .mine import mine_seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selfalign.seeds", description=__doc__)
    parser.add_argument("sources", nargs="*", help="corpus paths (default: the bundled demo corpus)")
    parser.add_argument("--no-typecheck", action="store_true", help="skip the type check")
    parser.add_argument("--no-decontaminate", action="store_true", help="skip decontamination")
    parser.add_argument("--methods", action="store_true", help="also mine methods of top-level classes")
    parser.add_argument("--out", help="write kept seeds as JSONL here")
    args = parser.parse_args(argv)
    cfg = SeedsConfig(typecheck=not args.no_typecheck, decontaminate=not args.no_decontaminate,
                      include_methods=args.methods)
    if args.sources:
        cfg.sources = args.sources
    start = time.perf_counter()
    reasons: Counter[str] = Counter()
    seeds = []
    for item in mine_seeds(cfg, progress=sys.stderr.isatty()):
        if hasattr(item, "reason"):
            reasons[item.reason] += 1
        else:
            seeds.append(item)
    wall = time.perf_counter() - start
    print(f"{'kept':<24}{len(seeds):>9}")
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"{reason:<24}{count:>9}")
    print(f"wall time {wall:.1f}s")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            for seed in seeds:
                handle.write(json.dumps(seed.to_dict(), ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
