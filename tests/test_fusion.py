"""Fusion methods on hand-made channel scores."""

import math

import numpy as np
import pytest

from qa.encoders import UnknownNameError
from qa.fusion import fuse_rrf, fuse_weighted, get_fusion, ranks_of

NAN = float("nan")


def test_ranks_put_missing_last() -> None:
    ranks = ranks_of(np.array([0.2, NAN, 0.9, 0.5]))
    assert list(ranks[[2, 3, 0]]) == [1, 2, 3]
    assert math.isinf(ranks[1])


def test_rrf_matches_the_formula() -> None:
    channels = {"bm25": np.array([3.0, NAN]), "minilm": np.array([0.1, 0.9])}
    fused = fuse_rrf(channels, {"bm25": 1.0, "minilm": 2.0}, k=60)
    assert fused[0] == pytest.approx(1 / 61 + 2 / 62)
    assert fused[1] == pytest.approx(2 / 61)


def test_weighted_normalises_each_channel_and_bm25_from_zero() -> None:
    channels = {"bm25": np.array([4.0, 2.0, NAN]), "e5": np.array([0.8, 0.9, 0.7])}
    fused = fuse_weighted(channels, {"bm25": 1.0, "e5": 1.0})
    # bm25: 4 -> 1, 2 -> 0.5, missing -> 0;  e5: min-max over 0.7..0.9
    assert fused == pytest.approx([(1 + 0.5) / 2, (0.5 + 1) / 2, (0 + 0) / 2])


def test_a_channel_with_one_candidate_still_counts() -> None:
    fused = fuse_weighted({"bm25": np.array([NAN, 2.5])}, {"bm25": 1.0})
    assert list(fused) == [0.0, 1.0]


def test_unknown_fusion_lists_the_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="choose one of: rrf, weighted"):
        get_fusion("magic")
