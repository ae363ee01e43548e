"""Scoring the answer spans on questions whose gold answer sentences are labelled.

A labelled line with ``"answer": ["sentence as the note writes it", ...]`` is scored
twice:

- on the gold passage: the window of a relevant section that holds the gold sentences,
  so that the choice of sentence is measured apart from retrieval;
- end to end: on the passage qa ranks first (a miss when it is not a gold one).

Metrics, per question language: sentence Hit@1 (the best marked unit overlaps a gold
sentence), span precision (the share of the marked characters inside gold sentences,
over the questions where something was marked), and how often nothing was marked. Two
baselines are scored the same way: the passage's first sentence, and the sentence with
the most question terms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.eval.evaluate import CUTOFF, Labelled, Target
from qa.retrieve.answer_span import (
    FEATURES,
    SpanContext,
    SpanWeights,
    Unit,
    inside,
    locate,
    overlaps,
    pick,
)

if TYPE_CHECKING:
    from qa.retrieve.search import Searcher
    from qa.store.chunks import Chunk

METHODS = ("qa", "first", "most_terms")
_COVERAGE = FEATURES.index("coverage")


@dataclass
class Passage:
    """One passage's markable units, their features and where the gold sentences are."""

    units: list[Unit]
    lexical: np.ndarray  # FEATURES without the dense channels
    features: np.ndarray  # with them, every unit embedded
    gold: list[tuple[int, int]]  # empty: the passage holds no gold sentence
    on_topic: bool = False  # its heading has one of the question's terms


@dataclass
class SentenceCase:
    """What one labelled question needs to be scored with any weights."""

    item: Labelled
    gold_passage: Passage | None  # None: no window of a relevant section holds the gold
    top_passage: Passage | None  # None: nothing retrieved


def gold_spans(item: Labelled, text: str) -> list[tuple[int, int]]:
    return [span for s in item.answer if (span := locate(s, text)) is not None]


def gold_chunk(item: Labelled, chunks: Sequence[Chunk]) -> Chunk | None:
    """The window of a relevant section holding the most gold sentences."""
    targets = [Target.parse(r) for r in item.relevant]
    best, found = None, 0
    for chunk in chunks:
        if not chunk.answered or not any(
            t.matches(loc) for t in targets for loc in chunk.locations
        ):
            continue
        n = len(gold_spans(item, chunk.text))
        if n > found:
            best, found = chunk, n
    return best


def on_topic(context: SpanContext, chunk: Chunk) -> bool:
    """Whether the chunk's heading names the question's topic (as search marks spans)."""
    return context.names_topic(" ".join(chunk.heading_path[-1:]))


def collect(searcher: Searcher, items: Iterable[Labelled]) -> list[SentenceCase]:
    """Ask each question with gold sentences and keep what scoring needs."""
    cases = []
    chunks = searcher.index.chunks
    for item in items:
        if not item.answer or not item.relevant:
            continue
        answer = searcher.search(item.question, CUTOFF)
        context = answer.span_context
        assert context is not None
        gold = gold_chunk(item, chunks)
        gold_passage = None
        if gold is not None:
            units, lexical, features = context.features(gold.text)
            gold_passage = Passage(
                units, lexical, features, gold_spans(item, gold.text), on_topic(context, gold)
            )
        top_passage = None
        if answer.hits:
            top = answer.hits[0].chunk
            targets = [Target.parse(r) for r in item.relevant]
            relevant = any(t.matches(loc) for t in targets for loc in top.locations)
            units, lexical, features = context.features(top.text)
            top_gold = gold_spans(item, top.text) if relevant else []
            top_passage = Passage(units, lexical, features, top_gold, on_topic(context, top))
        cases.append(SentenceCase(item, gold_passage, top_passage))
    return cases


def marked(passage: Passage, method: str, weights: SpanWeights) -> list[Unit]:
    """The units a method marks, best first."""
    if not passage.units:
        return []
    if method == "first":
        return [passage.units[0]]
    if method == "most_terms":
        return [passage.units[int(np.argmax(passage.features[:, _COVERAGE]))]]
    return [passage.units[i] for i in pick(passage.features, weights, passage.on_topic)]


def score(
    cases: Sequence[SentenceCase], weights: SpanWeights, where: str = "gold"
) -> dict[str, dict[str, dict[str, float]]]:
    """Per language ("en", "zh", "all"), per method: n, hit@1, precision, none (the share
    of questions where nothing was marked). ``where``: "gold" or "top" passage."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for lang in ("en", "zh", "all"):
        mine = [c for c in cases if lang == "all" or c.item.lang == lang]
        if not mine:
            continue
        table[lang] = {}
        for method in METHODS:
            hits, precisions, nones = [], [], 0
            for case in mine:
                passage = case.gold_passage if where == "gold" else case.top_passage
                units = marked(passage, method, weights) if passage else []
                gold = passage.gold if passage else []
                if not units:
                    nones += 1
                    hits.append(0.0)
                    continue
                spans = [(u.start, u.end) for u in units]
                hits.append(float(overlaps(spans[0], gold)))
                precisions.append(inside(spans, gold) if gold else 0.0)
            table[lang][method] = {
                "n": len(mine),
                "hit@1": float(np.mean(hits)),
                "precision": float(np.mean(precisions)) if precisions else 0.0,
                "none": nones / len(mine),
            }
    return table


def unlocated(cases: Sequence[SentenceCase]) -> list[Labelled]:
    """Questions whose gold sentences are in no window of a relevant section."""
    return [c.item for c in cases if c.gold_passage is None or not c.gold_passage.gold]


def sentence_report(
    searcher: Searcher, items: Iterable[Labelled], weights: SpanWeights | None = None
) -> dict[str, Any] | None:
    """Both tables (gold passage, top hit) for the items that have gold sentences; None
    when none has."""
    from qa.retrieve.answer_span import DEFAULT_WEIGHTS

    cases = collect(searcher, items)
    if not cases:
        return None
    w = weights or DEFAULT_WEIGHTS
    missing = unlocated(cases)
    return {
        "gold_passage": score([c for c in cases if c.item not in missing], w, "gold"),
        "top_hit": score(cases, w, "top"),
        "unlocated": [i.question for i in missing],
    }


def sentences_table(data: dict[str, Any]) -> Any:
    """The report of ``sentence_report`` as a rich table: Hit@1 / precision per
    language, for qa and both baselines, on the gold passage and on the top hit."""
    from rich.table import Table

    table = Table(title="Answer sentences: Hit@1 / span precision", title_justify="left")
    for column in ("passage", "lang", "n", *METHODS, "qa marked nothing"):
        table.add_column(column, justify="left" if column in ("passage", "lang") else "right")
    for key, title in (("gold_passage", "gold section"), ("top_hit", "top hit")):
        for lang, row in data[key].items():
            cells = [f"{row[m]['hit@1']:.3f} / {row[m]['precision']:.2f}" for m in METHODS]
            table.add_row(title, lang, str(row["qa"]["n"]), *cells, f"{row['qa']['none']:.2f}")
    return table
