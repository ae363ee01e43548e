"""Fit the second-stage reranker (qa.retrieve.rerank) across corpora, leave-one-corpus-out.

    python bench/fit_reranker.py [--split dev] [--write]

For every answerable labelled question of the split in every corpus (bench/corpora.py),
fusion's best DEPTH candidates are described by qa.retrieve.rerank.FEATURES and marked relevant
or not by the labels. A linear model is fitted on pairs (a relevant candidate against an
irrelevant one of the same question; each corpus weighs the same, whatever its number of
questions) with logistic loss. For each corpus, a model fitted WITHOUT it is scored on
it (leave-one-corpus-out), against fusion's own order. `--write` fits on every corpus and
writes qa/data/reranker.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import Corpus, discover, searcher

from qa.eval.evaluate import Target, matched_targets
from qa.retrieve.rerank import DEPTH, FEATURES, MODEL_FILE, Reranker, features
from qa.settings import Settings

Group = tuple[str, str, np.ndarray, np.ndarray]  # corpus, lang, X, relevant


def collect(corpus: Corpus, split: str, settings: Settings) -> list[Group]:
    s = searcher(corpus, settings)
    groups = []
    for item in corpus.questions:
        if not item.answerable or (split != "all" and item.split != split):
            continue
        answer = s.search(item.question, DEPTH)
        if not answer.hits:
            continue
        targets = [Target.parse(r) for r in item.relevant]
        y = np.array([bool(matched_targets(h.chunk, targets)) for h in answer.hits])
        x = features(answer.question, s.describe(answer))
        groups.append((corpus.name, item.lang, x, y))
    return groups


def fit(groups: list[Group], c: float = 1.0) -> Reranker:
    from sklearn.linear_model import LogisticRegression

    per_corpus: dict[str, int] = {}
    for name, _, _, y in groups:
        if y.any() and not y.all():
            per_corpus[name] = per_corpus.get(name, 0) + 1
    diffs, weights = [], []
    for name, _, x, y in groups:
        pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
        if not len(pos) or not len(neg):
            continue
        d = (x[pos][:, None, :] - x[neg][None, :, :]).reshape(-1, x.shape[1])
        diffs.append(d)
        weights.append(np.full(len(d), 1.0 / (len(d) * per_corpus[name])))
    d = np.vstack(diffs)
    w = np.concatenate(weights)
    scale = d.std(0) + 1e-9
    z = np.vstack([d / scale, -d / scale])
    labels = np.concatenate([np.ones(len(d)), np.zeros(len(d))])
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=5000)
    model.fit(z, labels, sample_weight=np.concatenate([w, w]) * len(per_corpus))
    coef = model.coef_[0] / scale
    return Reranker({name: round(float(v), 5) for name, v in zip(FEATURES, coef, strict=True)})


def hit_at(groups: list[Group], reranker: Reranker | None, k: int) -> float:
    if not groups:
        return float("nan")
    hits = []
    for _, _, x, y in groups:
        order = np.argsort(-reranker.scores(x), kind="stable") if reranker else np.arange(len(y))
        hits.append(bool(y[order[:k]].any()))
    return float(np.mean(hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=["dev", "test", "all"])
    parser.add_argument("--c", type=float, default=10.0, help="inverse regularisation strength")
    parser.add_argument("--write", action="store_true", help="write qa/data/reranker.json")
    args = parser.parse_args()
    settings = replace(Settings(), rerank="none")
    corpora = discover()
    groups = [g for corpus in corpora for g in collect(corpus, args.split, settings)]
    print(f"{'corpus':20} {'lang':4} {'n':>4}  fused@1  LOCO@1  fused@5  LOCO@5")
    cells = []
    for corpus in corpora:
        held = [g for g in groups if g[0] == corpus.name]
        model = fit([g for g in groups if g[0] != corpus.name], args.c)
        for lang in ("en", "zh"):
            mine = [g for g in held if g[1] == lang]
            before, after = hit_at(mine, None, 1), hit_at(mine, model, 1)
            cells.append((before, after))
            print(
                f"{corpus.name:20} {lang:4} {len(mine):>4}  {before:7.3f}  {after:6.3f}  "
                f"{hit_at(mine, None, 5):7.3f}  {hit_at(mine, model, 5):6.3f}"
            )
    before, after = np.nanmean([c[0] for c in cells]), np.nanmean([c[1] for c in cells])
    print(f"macro Hit@1: fused {before:.3f}, leave-one-corpus-out reranked {after:.3f}")
    final = fit(groups, args.c)
    print(json.dumps(final.to_json()["features"], indent=1))
    if args.write:
        MODEL_FILE.write_text(json.dumps(final.to_json(), indent=1) + "\n", encoding="utf-8")
        print(f"Wrote {MODEL_FILE}")


if __name__ == "__main__":
    main()
