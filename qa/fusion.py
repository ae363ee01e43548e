"""Fusing per-channel rankings into one, by name.

Each channel gives a score for every candidate chunk (higher is better), or NaN where
it did not retrieve the chunk at all. A fusion method turns those into one score per
candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from qa.encoders import UnknownNameError

# channel -> scores over the candidates (NaN where the channel did not retrieve one)
ChannelScores = Mapping[str, np.ndarray]
Fusion = Callable[[ChannelScores, Mapping[str, float], int], np.ndarray]


def ranks_of(scores: np.ndarray) -> np.ndarray:
    """1-based rank of every candidate in one channel; NaN (not retrieved) ranks last."""
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    ranks[np.isnan(scores)] = np.inf
    return ranks


def fuse_rrf(channels: ChannelScores, weights: Mapping[str, float], k: int = 60) -> np.ndarray:
    """Reciprocal rank fusion (Cormack et al. 2009): sum of weight / (k + rank).

    A channel that did not retrieve a candidate adds nothing for it.
    """
    fused: np.ndarray | None = None
    for name, scores in channels.items():
        contribution = weights.get(name, 1.0) / (k + ranks_of(scores))
        fused = contribution if fused is None else fused + contribution
    if fused is None:
        raise ValueError("no channel to fuse")
    return fused


def fuse_weighted(channels: ChannelScores, weights: Mapping[str, float], k: int = 60) -> np.ndarray:
    """Convex combination of min-max normalised scores (Bruch et al. 2022, "TM2C2").

    A candidate a channel did not retrieve gets that channel's lowest score.
    """
    del k
    fused: np.ndarray | None = None
    total = 0.0
    for name, raw in channels.items():
        w = weights.get(name, 1.0)
        seen = raw[~np.isnan(raw)]
        if not len(seen):
            continue
        lo, hi = float(seen.min()), float(seen.max())
        scores = np.where(np.isnan(raw), lo, raw)
        norm = (scores - lo) / (hi - lo) if hi > lo else np.zeros_like(scores)
        fused = w * norm if fused is None else fused + w * norm
        total += w
    if fused is None:
        raise ValueError("no channel to fuse")
    return fused / (total or 1.0)


FUSIONS: dict[str, Fusion] = {"rrf": fuse_rrf, "weighted": fuse_weighted}


def get_fusion(name: str) -> Fusion:
    try:
        return FUSIONS[name]
    except KeyError:
        valid = ", ".join(sorted(FUSIONS))
        raise UnknownNameError(f"unknown fusion {name!r}; choose one of: {valid}") from None
