"""Fit the "do the notes answer this?" model (qa.confidence) on labelled questions.

    python bench/fit_confidence.py [--split dev] [--report-test]

Builds (or reuses) indexes of the bundled notes and tests/corpus_mixed under
index/bench/, computes the confidence features for every labelled question of the
chosen split, fits a logistic regression (answerable vs off-topic), picks for each
language the threshold that declines the most off-topic questions in that language while
declining at most 4% of its answerable ones, and prints the model to paste into
qa/confidence.py with its rates on the dev half (and on the held-out half with
`--report-test`: read it once, after choosing).
"""

from __future__ import annotations

import argparse
import math
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
    parser.add_argument("--report-test", action="store_true", help="also print held-out rates")
    args = parser.parse_args()
    settings = Settings()
    rows = [r for corpus in CORPORA for r in features_for(corpus, settings)]

    def matrix(items: list[tuple[Labelled, dict[str, float]]]) -> tuple[np.ndarray, np.ndarray]:
        x = np.array([[feat.get(f, defaults[f]) for f in FEATURES] for _, feat in items])
        y = np.array([1.0 if item.answerable else 0.0 for item, _ in items])
        return x, y

    train = [r for r in rows if args.split == "all" or r[0].split == args.split]
    # What a switched-off channel's feature reads as: its mean over answerable questions.
    defaults = {
        f: float(np.mean([r[1].get(f, 0.0) for r in train if r[0].answerable])) for f in FEATURES
    }
    x, y = matrix(train)
    w, b = fit_logistic(x, y)
    thresholds = {}
    for lang in ("en", "zh"):
        xs, ys = matrix([r for r in train if r[0].lang == lang])
        p = 1 / (1 + np.exp(-(xs @ w + b)))
        grid = [float(t) for t in np.linspace(0.05, 0.95, 181)]
        allowed = [t for t in grid if rates(p, ys, t)[1] <= MAX_FALSE_DECLINES]
        thresholds[lang] = round(max(allowed, key=lambda t: (rates(p, ys, t)[0], -t)), 3)
    # Each language's threshold folded into its bias, so that 0.5 is the threshold for all.
    biases = {lang: round(b - math.log(t / (1 - t)), 3) for lang, t in thresholds.items()}
    print("weights:", {f: round(float(v), 3) for f, v in zip(FEATURES, w, strict=True)})
    print(f"thresholds on the fitted model: {thresholds}  biases: {biases}")
    print("defaults:", {f: round(v, 3) for f, v in defaults.items()})
    for split in ("dev", "test") if args.report_test else ("dev",):
        for lang in ("en", "zh", "all"):
            part = [r for r in rows if r[0].split == split and (lang == "all" or r[0].lang == lang)]
            xs, ys = matrix(part)
            bias = np.array([biases[r[0].lang] for r in part])
            declined = 1 / (1 + np.exp(-(xs @ w + bias))) < 0.5
            decline = float(declined[ys == 0].mean())
            false_decline = float(declined[ys == 1].mean())
            print(
                f"{split:4} {lang:3}  off-topic declined {decline:.3f} "
                f"(n={int((ys == 0).sum())})  answerable declined {false_decline:.3f} "
                f"(n={int((ys == 1).sum())})"
            )


if __name__ == "__main__":
    main()
