"""A multilingual model's scores with each section read against the question in the
section's own language.

Over notes written partly in English and partly in Chinese, one embedding of an English
question serves one language poorly: multilingual-e5 matches English to Chinese weakly,
and the question with its terms written in Chinese (qa.lang.code_mixed) suits the Chinese
sections but not the English ones. Embedding both and scoring each section with the one
in its language serves both: session 9 measured mixed-notes en>zh 0.80 -> 0.90 for e5 in
the fused default, every English-section question unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.lang.text import detect_language


def section_languages(texts: Sequence[str]) -> np.ndarray:
    """Whether each section is written in Chinese (``qa.lang.text.detect_language``)."""
    return np.fromiter((detect_language(t) == "zh" for t in texts), dtype=bool, count=len(texts))


def scores_by_language(
    matrix: np.ndarray, chinese: np.ndarray, asked: np.ndarray, rendered: np.ndarray
) -> np.ndarray:
    """Each row of ``matrix`` (section vectors) scored by ``rendered`` when its section is
    Chinese (``chinese``), by ``asked`` otherwise: the inner products a flat index gives."""
    both = matrix @ np.stack([asked, rendered], axis=1)  # one pass over the vectors
    return np.where(chinese, both[:, 1], both[:, 0])


def best_rows(scores: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` best rows by ``scores`` (among ``rows`` when given), best first; ties
    keep the row order, as a flat FAISS search does."""
    pool = np.arange(len(scores)) if rows is None else rows
    order = np.argsort(-scores[pool], kind="stable")[:k]
    return pool[order].astype(np.int64)
