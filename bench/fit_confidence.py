"""Fit the "do the notes answer this?" model (qa.confidence) on labelled questions.

    python bench/fit_confidence.py [--split dev]

Builds (or reuses) indexes of the bundled notes and tests/corpus_mixed under
index/bench/, computes the confidence features for every labelled question of the
chosen split, fits a logistic regression (answerable vs off-topic), picks the threshold
that declines the most off-topic questions while declining at most 5% of answerable
ones, and prints the model to paste into qa/confidence.py with its rates on both splits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from qa.confidence import FEATURES
from qa.evaluate import Labelled, load_labelled
from qa.index import Index, build_index
from qa.search import Searcher
from qa.settings import REPO_ROOT, Settings

CORPORA = [REPO_ROOT / "corpus", REPO_ROOT / "tests" / "corpus_mixed"]
MAX_FALSE_DECLINES = 0.04


def features_for(corpus: Path, settings: Settings) -> list[tuple[Labelled, dict[str, float]]]:
    index_dir = REPO_ROOT / "index" / "bench" / corpus.name
    build_index(corpus, index_dir, settings)
    searcher = Searcher(Index.load(index_dir), settings)
    rows = []
    for item in load_labelled(corpus / "questions.jsonl"):
        answer = searcher.search(item.question, 10)
        rows.append((item, answer.features))
    return rows


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 0.01, steps: int = 20000
) -> tuple[np.ndarray, float]:
    """Plain gradient descent on the log loss; features are standardised first."""
    mean, std = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / std
    w = np.zeros(x.shape[1])
    b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        grad_w = z.T @ (p - y) / len(y) + l2 * w
        grad_b = float(np.mean(p - y))
        w -= 0.5 * grad_w
        b -= 0.5 * grad_b
    # Undo the standardisation so the model reads raw features.
    return w / std, b - float((w * mean / std).sum())


def rates(p: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float]:
    declined = p < threshold
    return float(declined[y == 0].mean()), float(declined[y == 1].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=["dev", "test", "all"])
    args = parser.parse_args()
    settings = Settings()
    rows = [r for corpus in CORPORA for r in features_for(corpus, settings)]
    defaults = {
        f: float(np.mean([r[1].get(f, 0.0) for r in rows if r[0].answerable])) for f in FEATURES
    }

    def matrix(items: list[tuple[Labelled, dict[str, float]]]) -> tuple[np.ndarray, np.ndarray]:
        x = np.array([[feat.get(f, defaults[f]) for f in FEATURES] for _, feat in items])
        y = np.array([1.0 if item.answerable else 0.0 for item, _ in items])
        return x, y

    train = [r for r in rows if args.split == "all" or r[0].split == args.split]
    x, y = matrix(train)
    w, b = fit_logistic(x, y)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    allowed = [
        float(t) for t in np.linspace(0.05, 0.95, 181) if rates(p, y, t)[1] <= MAX_FALSE_DECLINES
    ]
    best = max(allowed, key=lambda t: (rates(p, y, t)[0], -t))
    print("weights:", {f: round(float(v), 3) for f, v in zip(FEATURES, w, strict=True)})
    print(f"bias: {b:.3f}  threshold: {best:.3f}")
    print("defaults:", {f: round(v, 3) for f, v in defaults.items()})
    for split in ("dev", "test"):
        for lang in ("en", "zh", "all"):
            part = [r for r in rows if r[0].split == split and (lang == "all" or r[0].lang == lang)]
            xs, ys = matrix(part)
            ps = 1 / (1 + np.exp(-(xs @ w + b)))
            decline, false_decline = rates(ps, ys, best)
            print(
                f"{split:4} {lang:3}  off-topic declined {decline:.3f} "
                f"(n={int((ys == 0).sum())})  answerable declined {false_decline:.3f} "
                f"(n={int((ys == 1).sum())})"
            )


if __name__ == "__main__":
    main()
