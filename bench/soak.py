"""Soak: 10,000 questions in one process; memory must stay flat.

    python bench/soak.py [--questions 10000]

Questions are the labelled set's, cycled with small variations (so nothing is served
from a cache). Prints RSS at the start, every 2,000 questions, and at the end.
"""

from __future__ import annotations

import argparse
import random
import time

from common import ROOT, save

from qa.eval.evaluate import load_labelled
from qa.library import Library
from qa.settings import Settings


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10_000)
    args = parser.parse_args()
    corpus = ROOT / "corpus"
    searcher = Library(corpus, ROOT / "index" / "bench" / "corpus", Settings()).open()
    searcher.warm_up()
    base = [i.question for i in load_labelled(corpus / "questions.jsonl")]
    rng = random.Random(1)
    suffixes = ["", "?", " please", " 吗", " in detail", " 详细说说", " (interview)"]
    for q in base[:50]:
        searcher.search(q)
    samples = [(0, rss_mb())]
    start = time.perf_counter()
    for n in range(1, args.questions + 1):
        searcher.search(rng.choice(base) + rng.choice(suffixes) + " " * rng.randint(0, 2), 5)
        if n % 2000 == 0:
            samples.append((n, rss_mb()))
            print(f"{n:6} questions  RSS {samples[-1][1]:.0f} MB", flush=True)
    seconds = time.perf_counter() - start
    first, last = samples[0][1], samples[-1][1]
    print(
        f"RSS start {first:.0f} MB, end {last:.0f} MB ({last - first:+.0f} MB) after "
        f"{args.questions} questions in {seconds:.0f} s"
    )
    path = save("soak", {"questions": args.questions, "rss_mb": samples, "seconds": seconds})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
