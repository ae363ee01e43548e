"""Fitting the answer-span weights: the conditional logit, nested leave-one-corpus-out, and
the weights file qa reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.eval import span_fit
from qa.eval.span_fit import Group
from qa.retrieve.answer_span import (
    DEFAULT_WEIGHTS,
    FEATURES,
    WEIGHTS_FILE,
    SpanWeights,
    load_span_weights,
)

COVERAGE = FEATURES.index("coverage")


def passage(corpus: str, cue: str, gold_at: int, n: int = 4, lang: str = "en") -> Group:
    """``n`` units with the same coverage; the gold one alone has feature ``cue``."""
    x = np.zeros((n, len(FEATURES)))
    x[:, COVERAGE] = 0.5
    x[gold_at, FEATURES.index(cue)] = 1.0
    spans = [(10 * i, 10 * i + 9) for i in range(n)]
    return Group(corpus, lang, x, spans, [spans[gold_at]])


def test_the_fit_learns_which_feature_marks_the_gold_unit() -> None:
    groups = [passage("a", "intent", i % 4) for i in range(12)]
    weights, l2 = span_fit.fit(groups)
    assert l2 in span_fit.L2_GRID
    assert weights.weights["intent"] > 0.5
    assert span_fit.hits(groups, weights).tolist() == [1.0] * 12


def test_the_loco_estimate_scores_each_corpus_with_weights_fitted_without_it() -> None:
    """Two corpora where the gold unit says what the intent asks, one where it is the
    one under a matching label instead: fitted on all three the weights find both cues,
    but the third corpus, held out, is scored by weights that never saw its cue."""
    groups = [passage(c, "intent", i % 4) for c in ("a", "b") for i in range(8)]
    groups += [passage("c", "label", 1 + i % 3, lang="zh") for i in range(6)]
    held_out, l2s = span_fit.loco(groups)
    assert set(l2s) == {"a", "b", "c"}
    assert held_out[:16].tolist() == [1.0] * 16  # a and b teach each other the intent cue
    assert held_out[16:].sum() < 6  # c's label cue was in neither a nor b
    fitted, _ = span_fit.fit(groups)
    assert span_fit.hits(groups, fitted)[16:].tolist() == [1.0] * 6
    assert span_fit.by_language(groups, held_out)["en"] == 1.0


def test_nothing_is_fitted_from_passages_that_do_not_choose() -> None:
    x = np.zeros((2, len(FEATURES)))
    every = Group("a", "en", x, [(0, 5), (6, 9)], [(0, 9)])  # every unit is gold
    with pytest.raises(ValueError, match="no passage"):
        span_fit.fit_weights([every], 0.1)


def test_the_weights_file_is_what_qa_scores_with(tmp_path: Path) -> None:
    shipped = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    assert set(shipped["features"]) == set(FEATURES)
    assert shipped["fitted"]["by"] == "bench/sentences.py --fit --write"
    assert SpanWeights.from_json(shipped) == DEFAULT_WEIGHTS
    again = SpanWeights.from_json(DEFAULT_WEIGHTS.to_json({"l2": 0.1}))
    assert again == DEFAULT_WEIGHTS
    path = tmp_path / "spans.json"
    path.write_text(json.dumps(DEFAULT_WEIGHTS.to_json()), encoding="utf-8")
    assert load_span_weights(path) == DEFAULT_WEIGHTS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "qa-reranker"}, "not a qa span-weights file"),
        ({"features": {"dense_z": 1.0}}, "a weight for each of"),
        ({"floor": "low"}, "numbers for floor"),
    ],
)
def test_a_bad_weights_file_is_refused(change: dict[str, object], message: str) -> None:
    data = {**DEFAULT_WEIGHTS.to_json(), **change}
    with pytest.raises(ValueError, match=message):
        SpanWeights.from_json(data)
    features = {**DEFAULT_WEIGHTS.to_json()["features"], "intent": "high"}
    with pytest.raises(ValueError, match="intent is not a number"):
        SpanWeights.from_json({**DEFAULT_WEIGHTS.to_json(), "features": features})
