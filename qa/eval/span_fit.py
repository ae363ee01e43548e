"""Fitting the answer-span weights (qa.retrieve.answer_span.FEATURES) on labelled gold
passages, with leave-one-corpus-out (LOCO) estimates of what they score on notes they
were not fitted on.

The model is a conditional logit: within one passage, the probability of a unit is the
softmax of its linear score, and the fit maximises the probability mass on the gold units,
with an L2 penalty on the weights of the standardised features (each feature divided by
its spread over every unit, so that one penalty means the same for all of them). The
penalty is chosen by LOCO over the training corpora; the estimate of ``loco`` chooses it
again inside each fold (nested), so that the held-out corpus never takes part in a choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.retrieve.answer_span import FEATURES, SpanWeights, inside, overlaps, pick

L2_GRID = (0.003, 0.01, 0.03, 0.1, 0.3)
WITHIN_GRID = (0.0, 0.1, 0.2, 0.3, 0.5)
NO_FLOOR = -9.0  # scores never reach this low: the coverage rule alone marks nothing


@dataclass(frozen=True)
class Group:
    """One labelled question's gold passage: its units' FEATURES rows and spans, and
    where its gold sentences are."""

    corpus: str
    lang: str
    features: np.ndarray
    spans: list[tuple[int, int]]
    gold_spans: list[tuple[int, int]]
    on_topic: bool = False  # its heading names the question's topic (answer_span.pick)

    @property
    def gold(self) -> np.ndarray:
        return np.array([overlaps(s, self.gold_spans) for s in self.spans], dtype=bool)


def fit_weights(groups: Sequence[Group], l2: float) -> np.ndarray:
    """The weights (on the features as they are) of the conditional logit at penalty
    ``l2``; passages whose units are all gold, or none, carry no information and are
    left out."""
    from scipy.optimize import minimize

    data = [(g.features, g.gold) for g in groups if g.gold.any() and not g.gold.all()]
    if not data:
        raise ValueError("no passage with both gold and other units to fit on")
    spread = np.vstack([x for x, _ in data]).std(axis=0)
    spread[spread == 0] = 1.0
    scaled = [(x / spread, gold) for x, gold in data]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, gold in scaled:
            s = x @ w
            e = np.exp(s - s.max())
            total -= np.log(e[gold].sum() / e.sum())
            grad -= x[gold].T @ (e[gold] / e[gold].sum()) - x.T @ (e / e.sum())
        return total / len(scaled) + l2 * float(w @ w), grad / len(scaled) + 2 * l2 * w

    start = np.zeros(len(FEATURES))
    result = minimize(loss, start, jac=True, method="L-BFGS-B")
    return np.asarray(result.x / spread)


def as_weights(w: np.ndarray, second_within: float = 0.0) -> SpanWeights:
    return SpanWeights(
        {name: round(float(v), 4) for name, v in zip(FEATURES, w, strict=True)},
        NO_FLOOR,
        second_within,
    )


def hits(groups: Sequence[Group], weights: SpanWeights) -> np.ndarray:
    """Per group, 1 when the best marked unit overlaps a gold sentence (0 when nothing
    is marked)."""
    out = np.zeros(len(groups))
    for i, g in enumerate(groups):
        chosen = pick(g.features, weights, g.on_topic)
        out[i] = float(bool(chosen) and overlaps(g.spans[chosen[0]], g.gold_spans))
    return out


def precision(groups: Sequence[Group], weights: SpanWeights) -> float:
    """The mean share of the marked characters inside gold sentences, where something
    is marked."""
    shares = []
    for g in groups:
        chosen = pick(g.features, weights, g.on_topic)
        if chosen:
            shares.append(inside([g.spans[i] for i in chosen], g.gold_spans))
    return float(np.mean(shares)) if shares else 0.0


def by_language(groups: Sequence[Group], scored: np.ndarray) -> dict[str, float]:
    """Hit@1 per question language."""
    return {
        lang: float(np.mean([h for g, h in zip(groups, scored, strict=True) if g.lang == lang]))
        for lang in sorted({g.lang for g in groups})
    }


def _loco_hits(groups: Sequence[Group], l2: float) -> np.ndarray:
    scored = np.zeros(len(groups))
    for held in sorted({g.corpus for g in groups}):
        train = [g for g in groups if g.corpus != held]
        test = [i for i, g in enumerate(groups) if g.corpus == held]
        weights = as_weights(fit_weights(train, l2))
        scored[test] = hits([groups[i] for i in test], weights)
    return scored


def choose_l2(groups: Sequence[Group], grid: Sequence[float] = L2_GRID) -> float:
    """The penalty whose LOCO Hit@1 (the mean over languages) is best; the stronger one
    on a tie, and the strongest when there is one corpus only (nothing to leave out)."""
    best, chosen = -1.0, max(grid)
    if len({g.corpus for g in groups}) < 2:
        return chosen
    for l2 in sorted(grid, reverse=True):
        value = float(np.mean(list(by_language(groups, _loco_hits(groups, l2)).values())))
        if value > best + 1e-9:
            best, chosen = value, l2
    return chosen


def loco(
    groups: Sequence[Group], grid: Sequence[float] = L2_GRID
) -> tuple[np.ndarray, dict[str, float]]:
    """Nested leave-one-corpus-out: for each corpus, the penalty chosen by LOCO on the
    others, the weights fitted on the others, Hit@1 on it. The hits per group and the
    penalty each corpus was scored with."""
    scored = np.zeros(len(groups))
    chosen = {}
    for held in sorted({g.corpus for g in groups}):
        train = [g for g in groups if g.corpus != held]
        test = [i for i, g in enumerate(groups) if g.corpus == held]
        l2 = choose_l2(train, grid)
        chosen[held] = l2
        scored[test] = hits([groups[i] for i in test], as_weights(fit_weights(train, l2)))
    return scored, chosen


def fit(groups: Sequence[Group], grid: Sequence[float] = L2_GRID) -> tuple[SpanWeights, float]:
    """The weights fitted on every group at the penalty LOCO chooses, with the
    neighbour margin that gives the best span precision; and that penalty."""
    l2 = choose_l2(groups, grid)
    w = fit_weights(groups, l2)
    within = max(WITHIN_GRID, key=lambda m: (precision(groups, as_weights(w, m)), -m))
    return as_weights(w, within), l2
