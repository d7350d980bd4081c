"""Chapters two at a time against one after the other (``helpers run --jobs``).

Runs the chapters that follow chapter 3 (4-9 by default) of a profile's run twice in this one
process, with ``jobs=1`` (the reference: one after the other, as before) and ``jobs=2`` (the
default: a chapter starts once what it reads has finished, ``helpers.run.NEEDS``), in the
order given by ``--first``; each pass removes what the chapters wrote before it runs them
(``helpers.runner.clear_downstream``, as ``helpers run --only`` does). Reports, per pass, the
wall time and the CPU time of the kernels (``RUSAGE_CHILDREN``), and checks that every
chapter's headline numbers in ``metrics.json`` are equal between the two (the same work; the
scheduling must not change a result). Needs a run whose chapters 1-3 have finished
(``make book`` or ``make chapters``). Same machine, same cores, nothing else running.

    NUMBA_CACHE_DIR=.cache/numba .venv/bin/python benchmarks/bench_chapters.py [--params params/demo.yml]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from helpers import profiles, runner
from helpers.artifacts import read_metrics

LATER = ["04_reduce", "05_cluster", "06_compare", "07_new_galaxies", "08_mock_realism",
         "09_codes_at_work"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_pass(params: Path, chapters: list[str], jobs: int) -> tuple[float, float, dict]:
    """Run ``chapters`` with ``jobs``; (wall s, kernels' CPU s, headlines by section)."""
    cpu, started = children_cpu(), time.perf_counter()
    runner.run(params, only=chapters, book=False, jobs=jobs)
    wall, used = time.perf_counter() - started, children_cpu() - cpu
    metrics = read_metrics(profiles.load_profile(params).run_dir)
    return wall, used, {section: values.get("headlines") for section, values in metrics.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params/demo.yml"))
    parser.add_argument("--chapters", nargs="*", default=LATER)
    parser.add_argument("--first", type=int, choices=(1, 2), default=1,
                        help="which pass runs first (the other second; default: jobs=1 first)")
    args = parser.parse_args(argv)

    order = [args.first, 3 - args.first]
    results = {jobs: one_pass(args.params, args.chapters, jobs) for jobs in order}
    (wall1, cpu1, head1), (wall2, cpu2, head2) = results[1], results[2]
    differ = sorted(s for s in set(head1) | set(head2) if head1.get(s) != head2.get(s))
    print(f"chapters {args.chapters[0]} .. {args.chapters[-1]} of {args.params}:")
    print(f"  one after the other (jobs=1): {wall1:6.1f} s wall, {cpu1:6.1f} s kernel CPU")
    print(f"  two at a time (jobs=2):       {wall2:6.1f} s wall, {cpu2:6.1f} s kernel CPU")
    print(f"  speed-up {wall1 / wall2:.2f}x in wall time; CPU {cpu2 / cpu1:.2f}x")
    print("  headlines equal in every section" if not differ else
          f"  HEADLINES DIFFER in {differ}: " + json.dumps({s: (head1.get(s), head2.get(s)) for s in differ}))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
