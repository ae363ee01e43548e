"""CPU added per question by the cross-language steps (session 10), timed step by step on
the dev questions of the bundled, mixed and interview-notes-zh notes.

    python bench/xling_cost.py [--rounds 5]

For an English question: e5 embedding the question alone against the question and its
code-mixed rendering in one batch (bilingual notes, qa.retrieve.by_language), scoring
every section by its language's vector, and the CC-CEDICT ambiguity count
(``Dictionary.senses``) plus the longer rendering (qa.lang.code_mixed). Mean over the
questions of each step's median CPU milliseconds (process time, all threads); also the
one-time cost of telling each section's language.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from corpora import PRESETS, discover, searcher  # noqa: E402

from qa.lang.code_mixed import chinese_terms  # noqa: E402
from qa.lang.dictionary import load_dictionary  # noqa: E402
from qa.lang.text import has_chinese  # noqa: E402
from qa.retrieve.by_language import scores_by_language, section_languages  # noqa: E402


def cpu_ms(step: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.process_time()
        step()
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


def costs(corpus: Any, dictionary: Any, rounds: int) -> str:
    """One line of medians for one corpus."""
    s = searcher(corpus, PRESETS["default"])
    e5 = s.encoder("e5").inner  # type: ignore[attr-defined]  # not the bench's cache
    chunks = [c.text for c in s.index.chunks]
    once = cpu_ms(lambda: section_languages(chunks), 3)
    zh = section_languages(chunks)
    matrix = s._matrix("e5")
    rows: dict[str, list[float]] = {k: [] for k in ("one", "two", "score", "senses", "render")}
    for item in corpus.questions:
        if item.split != "dev" or has_chinese(item.question):
            continue
        q = s.analyse(item.question)
        if q.expansion is None:
            continue
        mixed = chinese_terms(q.text, q.expansion, q.chinese_words)
        rows["one"].append(cpu_ms(lambda q=q: e5.embed_queries([q.text]), rounds))
        rows["two"].append(cpu_ms(lambda q=q, m=mixed: e5.embed_queries([q.text, m]), rounds))
        v = e5.embed_queries([q.text])[0]
        rows["score"].append(cpu_ms(lambda v=v: scores_by_language(matrix, zh, v, v), rounds))
        words = list(q.chinese_words)
        rows["senses"].append(cpu_ms(lambda w=words: [dictionary.senses(x) for x in w], rounds))
        rows["render"].append(
            cpu_ms(lambda q=q: chinese_terms(q.text, q.expansion, q.chinese_words), rounds)
            - cpu_ms(lambda q=q: chinese_terms(q.text, q.expansion), rounds)
        )
    med = {k: statistics.mean(v) for k, v in rows.items() if v}
    return (
        f"{corpus.name:20} {len(chunks):5} sections ({int(zh.sum())} Chinese), "
        f"{len(rows['one'])} English dev questions: e5 one {med['one']:.2f} ms, "
        f"two {med['two']:.2f} ms (+{med['two'] - med['one']:.2f}), "
        f"by-language scoring {med['score']:.3f} ms, senses {med['senses']:.3f} ms, "
        f"rendering +{med['render']:.3f} ms; section languages once {once:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    dictionary = load_dictionary()
    for corpus in discover(["bundled", "mixed", "interview-notes-zh"]):
        print(costs(corpus, dictionary, args.rounds))


if __name__ == "__main__":
    main()
