"""The cross-language misses of the dev halves: every question asked in another language
than the notes that answer it, whose answer does not rank first.

    python bench/xling_misses.py [--corpus NAME ...] [--settings default] [--all]

For each miss: the question, what e5 read (qa.lang.code_mixed), the labelled section and
the section ranked first, with each channel's rank of both; ``--all`` prints the hits too.
Dev halves only (bench/corpora.py's questions and split); never reads a test half.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from corpora import PRESETS, discover, notes_language, searcher  # noqa: E402

from qa.eval.evaluate import Target, matched_targets  # noqa: E402
from qa.lang.code_mixed import chinese_terms  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="*")
    parser.add_argument("--settings", default="default")
    parser.add_argument("--all", action="store_true", help="print the hits too")
    args = parser.parse_args()
    settings = PRESETS[args.settings]
    for corpus in discover(args.corpus):
        s = searcher(corpus, settings)
        items = [i for i in corpus.questions if i.split == "dev" and i.answerable]
        cross = [(i, notes_language(i, s.index.chunks)) for i in items]
        cross = [(i, lang) for i, lang in cross if lang is not None and lang != i.lang]
        missed = 0
        for item, lang in cross:
            answer = s.search(item.question, 50, spans=False)
            targets = [Target.parse(r) for r in item.relevant]
            ranks = [n for n, h in enumerate(answer.hits, 1) if matched_targets(h.chunk, targets)]
            first = ranks[0] if ranks else None
            if first == 1 and not args.all:
                continue
            missed += first != 1
            q = answer.query
            rendered = (
                chinese_terms(q.text, q.expansion, q.chinese_words) if q.expansion else q.text
            )
            print(f"\n[{corpus.name} {item.lang}>{lang}] {item.question!r}  gold@{first}")
            if rendered != item.question:
                print(f"   e5 reads: {rendered!r}")
            if q is not None:
                print(f"   bm25: {sorted(q.weighted.items(), key=lambda kv: -kv[1])[:14]}")
            for n, h in enumerate(answer.hits[:3], 1):
                mark = "*" if n in ranks else " "
                print(f"  {mark}{n} {' > '.join(h.chunk.heading_path)[:70]}  {h.channel_ranks}")
            if first and first > 3:
                h = answer.hits[first - 1]
                print(f"  *{first} {' > '.join(h.chunk.heading_path)[:70]}  {h.channel_ranks}")
            if first is None:
                print(f"   gold: {item.relevant}")
        print(f"== {corpus.name}: {missed} of {len(cross)} cross-language dev questions missed")


if __name__ == "__main__":
    main()
