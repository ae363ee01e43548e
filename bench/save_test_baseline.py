"""Re-save tests/baseline.json: the floor tests/test_retrieval.py holds quality to.

    python bench/save_test_baseline.py

Scores the whole labelled sets of the bundled notes and tests/corpus_mixed with the
default settings (qa eval's code) and writes Hit@k, MRR, nDCG, recall per language and the
decline rates. Run it only after a change whose effect on every corpus was measured
(bench/corpora.py), and say in the commit what moved.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import discover, searcher

from qa.eval.evaluate import evaluate, load_labelled
from qa.settings import Settings

OUT = Path(__file__).resolve().parent.parent / "tests" / "baseline.json"


def main() -> None:
    data = {}
    for corpus in discover(["bundled", "mixed"]):
        s = searcher(corpus, Settings())
        items = load_labelled(corpus.folder / "questions.jsonl")
        report = evaluate(items, lambda q, s=s: s.search(q, 10))
        entry = {
            lang: {m: round(v, 4) for m, v in report.groups[lang].items()}
            for lang in ("en", "zh", "all")
        }
        entry["off_topic_declined"] = round(report.declines["all"]["off_topic_declined"], 4)
        entry["answerable_declined"] = round(report.declines["all"]["answerable_declined"], 4)
        data[corpus.name] = entry
    OUT.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
