"""Chunking time on adversarial notes: it must grow linearly with the note's size.

    python bench/adversarial_chunking.py [--sizes 131072 262144 524288 1048576]

Each input repeats one hostile pattern up to the size (unclosed HTML comments, scripts
and styles, unclosed fences, one huge line, deep nesting, brackets, emphasis runs, a
huge heading, a table of many columns, ...). For each, the best of three runs of
``chunk_markdown`` at each size, the slope of log(time) against log(size) (1 is linear,
2 quadratic) and the longest chunk. Writes bench/results/adversarial_chunking.json.
"""

from __future__ import annotations

import argparse
import math
import time

from common import save

from qa.store.chunking import chunk_markdown

WINDOW = 700

PATTERNS: dict[str, str] = {
    "unclosed comments": "<!--",
    "unclosed scripts": "<script>",
    "unclosed styles": "<style a>x",
    "comment openers in text": "text <!-- ",
    "unclosed fences": "```\n",
    "one line, no punctuation": "word",
    "one line of sentences": "Dropout zeroes units. ",
    "one line of Chinese sentences": "丢弃法随机置零。",
    "deep block quotes": "> ",
    "deep lists": "- ",
    "brackets": "[",
    "link openers": "[a](",
    "emphasis runs": "*_",
    "backticks": "`",
    "angle brackets": "<a ",
    "one huge heading": "# " + "[",  # the heading marker once, then brackets
    "many headings": "# h\n",
    "table of many columns": "| a ",
    "blank lines": "\n",
}


def make(name: str, size: int) -> str:
    unit = PATTERNS[name]
    if name == "one huge heading":
        return "# " + "[" * (size - 2)
    if name == "table of many columns":
        cols = size // 8
        return "| a " * cols + "|\n" + "|---" * cols + "|\n"
    return (unit * (size // len(unit) + 1))[:size]


def best_of(runs: int, text: str) -> tuple[float, int, int]:
    best = math.inf
    sections = []
    for _ in range(runs):
        start = time.perf_counter()
        sections = chunk_markdown(text, "adversarial.md", WINDOW)
        best = min(best, time.perf_counter() - start)
    return best, len(sections), max((len(s.body) for s in sections), default=0)


def slope(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) against log(size)."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(t, 1e-6)) for t in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[131_072, 262_144, 524_288, 1_048_576]
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = {}
    print(
        f"{'input':32} " + " ".join(f"{s // 1024:>7} KB" for s in args.sizes) + "  slope  longest"
    )
    for name in PATTERNS:
        seconds, longest = [], 0
        for size in args.sizes:
            t, _, biggest = best_of(args.runs, make(name, size))
            seconds.append(t)
            longest = max(longest, biggest)
        k = slope(args.sizes, seconds)
        rows[name] = {
            "seconds": dict(zip(map(str, args.sizes), (round(t, 4) for t in seconds), strict=True)),
            "slope": round(k, 2),
            "longest_chunk": longest,
        }
        cells = " ".join(f"{t:>8.3f} s" for t in seconds)
        print(f"{name:32} {cells}  {k:5.2f}  {longest:>7}", flush=True)
    worst = max(r["seconds"][str(args.sizes[-1])] for r in rows.values())
    path = save(
        "adversarial_chunking",
        {
            "window_chars": WINDOW,
            "sizes": args.sizes,
            "runs": args.runs,
            "inputs": rows,
            "worst_seconds_at_largest": worst,
            "largest_slope": max(r["slope"] for r in rows.values()),
        },
    )
    print(f"worst at {args.sizes[-1] // 1024} KB: {worst:.2f} s; wrote {path}")


if __name__ == "__main__":
    main()
