"""Add newly written labelled questions to a corpus's extra set, dropping near-duplicates.

    python bench/add_questions.py CORPUS NEW.jsonl [--fresh DIR]

A new question within 0.4 word overlap (Jaccard over qa.lang.text.tokenize tokens) of any
question the corpus already has (its questions.jsonl and bench/questions/CORPUS.jsonl), or
of a new question kept before it, is dropped. Labels that name no section of the corpus
are listed (and kept: fix them by hand before any result on them is read). The kept
questions are appended to bench/questions/CORPUS.jsonl.

Every held-out fresh set of the corpus (bench/questions/fresh*/CORPUS.jsonl) counts as
existing questions too. With ``--fresh DIR`` the kept questions are a new held-out set
instead: appended to DIR/CORPUS.jsonl pinned ``"split": "test"``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import EXTRA, discover, searcher

from qa.eval.evaluate import Target, load_labelled
from qa.lang.text import tokenize
from qa.settings import Settings

OVERLAP = 0.4


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("new", type=Path)
    parser.add_argument("--fresh", type=Path, metavar="DIR", help="write a pinned test set")
    args = parser.parse_args()
    (corpus,) = discover([args.corpus])
    seen = [set(tokenize(i.question)) for i in corpus.questions]
    held_out = sorted(EXTRA.glob(f"fresh*/{args.corpus}.jsonl"))  # never duplicate a test question
    if args.fresh and (args.fresh / f"{args.corpus}.jsonl").is_file():
        held_out.append(args.fresh / f"{args.corpus}.jsonl")  # nor one of this set
    for earlier in dict.fromkeys(p.resolve() for p in held_out):
        seen += [set(tokenize(i.question)) for i in load_labelled(earlier)]
    chunks = searcher(corpus, Settings()).index.chunks
    kept, dropped = [], 0
    for item in load_labelled(args.new):
        tokens = set(tokenize(item.question))
        if any(jaccard(tokens, other) >= OVERLAP for other in seen):
            dropped += 1
            continue
        seen.append(tokens)
        for label in item.relevant:
            target = Target.parse(label)
            if not any(target.matches(loc) for c in chunks for loc in c.locations):
                print(f"label names no section: {label!r} ({item.question})")
        record = {"question": item.question, "relevant": list(item.relevant), "lang": item.lang}
        kept.append(record | {"split": "test"} if args.fresh else record)
    out = args.fresh / f"{args.corpus}.jsonl" if args.fresh else EXTRA / f"{args.corpus}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as f:
        for record in kept:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"{args.corpus}: kept {len(kept)}, dropped {dropped} near-duplicates")


if __name__ == "__main__":
    main()
