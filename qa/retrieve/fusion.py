"""Fusing per-channel rankings into one, by name.

Each channel gives a score for every candidate chunk (higher is better), or NaN where
it did not retrieve the chunk at all. A fusion method turns those into one score per
candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from qa.models.encoders import UnknownNameError

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
    """Convex combination of min-max normalised scores (Bruch et al. 2022).

    Each channel's scores are scaled to [0, 1] between its lowest and highest score over
    the candidates; BM25's lowest is its theoretical minimum, 0. A candidate a channel did
    not retrieve scores 0 there.
    """
    del k
    fused: np.ndarray | None = None
    total = 0.0
    for name, raw in channels.items():
        w = weights.get(name, 1.0)
        seen = ~np.isnan(raw)
        if not seen.any():
            continue
        lo = 0.0 if name == "bm25" else float(raw[seen].min())
        hi = float(raw[seen].max())
        norm = np.zeros(len(raw))
        norm[seen] = (raw[seen] - lo) / (hi - lo) if hi > lo else 1.0
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
