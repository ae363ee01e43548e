"""Fusion settings on the dev questions: score normalisations, weights, coverage weight.

    python bench/fusion_grid.py [--sweep fusion|coverage] [--split dev|test]

`--sweep fusion` runs every fusion below with ten weight triples (bm25 / minilm / e5);
`--sweep coverage` runs the default fusion with coverage weights from 0 to 1. Both score
the dev half of the bundled labelled set plus all of tests/corpus_mixed (the set defaults
are chosen on) and print Hit@1 per corpus and language, their mean, and the mean MRR@10.
Question embeddings are cached, so only ranking is recomputed. `--split test` reports the
held-out half instead (read it once, after choosing).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import ROOT

from qa.eval.evaluate import evaluate as run_eval
from qa.eval.evaluate import load_labelled
from qa.library import Library
from qa.retrieve import fusion
from qa.retrieve.search import Searcher
from qa.settings import Settings

COVERAGE = [0.0, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.75, 1.0]
WEIGHTS = [
    (1, 0.5, 1), (1, 1, 1), (1, 0.5, 0.5), (1, 1, 0.5), (1.5, 0.5, 1),
    (1, 0.25, 1), (1, 0.5, 1.5), (2, 1, 1), (1, 0, 1), (1, 1, 0),
]  # fmt: skip


def _normalised(channels: fusion.ChannelScores, weights: dict, scale) -> np.ndarray:
    fused, total = None, 0.0
    for name, raw in channels.items():
        seen = ~np.isnan(raw)
        if not seen.any():
            continue
        w = weights.get(name, 1.0)
        norm = scale(name, raw[seen], len(raw), seen)
        fused = w * norm if fused is None else fused + w * norm
        total += w
    assert fused is not None
    return fused / (total or 1.0)


def fuse_z(channels, weights, k=60):
    """z-scores over the candidates; a candidate a channel missed sits below its lowest."""

    def scale(name, vals, n, seen):
        mu, sd = vals.mean(), vals.std() or 1.0
        out = np.full(n, (vals.min() - mu) / sd - 1.0)
        out[seen] = (vals - mu) / sd
        return out

    return _normalised(channels, weights, scale)


def fuse_dbsf(channels, weights, k=60):
    """Distribution-based score fusion: min-max between mean - 3σ and mean + 3σ."""

    def scale(name, vals, n, seen):
        mu, sd = vals.mean(), vals.std() or 1.0
        lo, hi = (0.0 if name == "bm25" else mu - 3 * sd), mu + 3 * sd
        out = np.zeros(n)
        out[seen] = np.clip((vals - lo) / (hi - lo), 0, 1)
        return out

    return _normalised(channels, weights, scale)


def fuse_minmax_all(channels, weights, k=60):
    """The default min-max, but BM25 also starts at its lowest candidate instead of 0."""

    def scale(name, vals, n, seen):
        lo, hi = float(vals.min()), float(vals.max())
        out = np.zeros(n)
        out[seen] = (vals - lo) / (hi - lo) if hi > lo else 1.0
        return out

    return _normalised(channels, weights, scale)


def cached_searcher(corpus: Path, index: Path) -> Searcher:
    searcher = Library(corpus, index, Settings()).open()
    for channel in searcher.settings.dense_channels:
        encoder = searcher.encoder(channel)
        encoder.warm_up()
        embed, cache = encoder.embed_queries, {}

        def cached(texts, embed=embed, cache=cache):
            key = tuple(texts)
            if key not in cache:
                cache[key] = embed(texts)
            return cache[key]

        encoder.embed_queries = cached  # type: ignore[method-assign]
    return searcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", choices=["fusion", "coverage"], default="fusion")
    parser.add_argument("--split", choices=["dev", "test"], default="dev")
    args = parser.parse_args()
    fusion.FUSIONS.update({"z": fuse_z, "dbsf": fuse_dbsf, "minmax-all": fuse_minmax_all})
    corpora = {
        "bundled": (ROOT / "corpus", ROOT / "index" / "bench" / "corpus"),
        "mixed": (ROOT / "tests" / "corpus_mixed", ROOT / "index" / "bench" / "corpus_mixed"),
    }
    if args.split == "test":
        corpora.pop("mixed")  # all of it is tuning data
    searchers, questions = {}, {}
    for name, (corpus, index) in corpora.items():
        searchers[name] = cached_searcher(corpus, index)
        items = [i for i in load_labelled(corpus / "questions.jsonl") if i.answerable]
        questions[name] = [i for i in items if name == "mixed" or i.split == args.split]
    if args.sweep == "fusion":
        runs = {
            f"{method:10} {w!s:15}": replace(
                Settings(), fusion=method, weights={"bm25": w[0], "minilm": w[1], "e5": w[2]}
            )
            for method in ("weighted", "minmax-all", "z", "dbsf")
            for w in WEIGHTS
        }
    else:
        runs = {f"coverage {c:<5}": replace(Settings(), coverage_weight=c) for c in COVERAGE}
    for label, settings in runs.items():
        groups, mrr = {}, []
        for name, searcher in searchers.items():
            searcher.settings = settings
            report = run_eval(questions[name], lambda q, s=searcher: s.search(q, 10))
            for lang in ("en", "zh"):
                outcomes = [o for o in report.outcomes if o.item.lang == lang]
                groups[f"{name}-{lang}"] = float(np.mean([o.metrics["hit@1"] for o in outcomes]))
                mrr.append(np.mean([o.metrics["mrr@10"] for o in outcomes]))
        cells = " ".join(f"{k} {v:.3f}" for k, v in groups.items())
        mean = np.mean(list(groups.values()))
        print(f"{label} mean {mean:.3f} (MRR@10 {np.mean(mrr):.3f})  {cells}", flush=True)


if __name__ == "__main__":
    main()
