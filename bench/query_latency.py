"""Warm query latency: all channels, fused, in one process (as in the TUI).

    python bench/query_latency.py [--index DIR --corpus DIR --questions FILE] [--rounds 3]

Defaults to the bundled notes and their labelled questions. Reports p50/p95/p99 per
language over every question, each asked `--rounds` times after a warm-up, in wall-clock
time and in the process's CPU time (user+sys of every thread: steadier than wall-clock
on a shared machine). Targets: p95 ≤ 30 ms on the bundled notes, ≤ 60 ms at 100k sections.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import ROOT, percentiles, save, self_peak_rss_mb

from qa.eval.evaluate import load_labelled
from qa.library import Library
from qa.presets import BUILTIN


def measure(
    corpus: Path, index: Path, questions: list[tuple[str, str]], rounds: int, preset: str
) -> dict[str, dict[str, float]]:
    searcher = Library(corpus, index, BUILTIN[preset]).open()
    searcher.warm_up()
    for question, _ in questions[:20]:
        searcher.search(question)
    timings: dict[str, list[float]] = {"en": [], "zh": []}
    cpu: dict[str, list[float]] = {"en": [], "zh": []}
    for _ in range(rounds):
        for question, lang in questions:
            start, start_cpu = time.perf_counter(), time.process_time()
            searcher.search(question, 5)
            cpu[lang].append((time.process_time() - start_cpu) * 1000)
            timings[lang].append((time.perf_counter() - start) * 1000)
    out = {}
    for name, table in (("", timings), ("cpu ", cpu)):
        table["all"] = table["en"] + table["zh"]
        out |= {f"{name}{lang}": percentiles(values) for lang, values in table.items() if values}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--index", type=Path, default=ROOT / "index" / "bench" / "corpus")
    parser.add_argument("--questions", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="query_latency")
    parser.add_argument("--preset", default="default", choices=sorted(BUILTIN))
    args = parser.parse_args()
    items = load_labelled(args.questions or args.corpus / "questions.jsonl")
    questions = [(i.question, i.lang) for i in items]
    result = measure(args.corpus, args.index, questions, args.rounds, args.preset)
    for lang, p in result.items():
        print(
            f"{lang:7}  n={p['n']:4}  p50 {p['p50']:.1f} ms  p95 {p['p95']:.1f} ms  "
            f"p99 {p['p99']:.1f} ms  mean {p['mean']:.2f} ms"
        )
    print(f"peak RSS {self_peak_rss_mb():.0f} MB")
    path = save(
        args.name,
        {
            "corpus": str(args.corpus),
            "preset": args.preset,
            "latency_ms": result,
            "peak_rss_mb": self_peak_rss_mb(),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
