"""Fit the "do the notes answer this?" model (qa.retrieve.confidence) across corpora.

    python bench/fit_confidence.py [--split dev] [--write] [--report-test]

For every labelled question of the chosen split in every corpus (bench/corpora.py), the
confidence features of the default settings are computed. A logistic regression
(answerable vs off-topic) is fitted with each corpus weighing the same, whatever its
number of questions; then for each language the threshold that declines the most
off-topic questions of that language while declining at most 4% of its answerable ones
(each averaged over corpora) is folded into that language's bias. Rates are printed per corpus
on the fitted split, and leave-one-corpus-out (a model fitted without the corpus).
`--write` writes qa/data/confidence.json. `--report-test` also prints held-out rates:
read them only as bench/results/session6-protocol.md says.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import discover, searcher

from qa.retrieve.confidence import FEATURES, MODEL_FILE, ConfidenceModel
from qa.settings import Settings

MAX_FALSE_DECLINES = 0.04
Row = tuple[str, str, str, bool, dict[str, float]]  # corpus, split, lang, answerable, features


def collect(splits: tuple[str, ...] = ("dev", "test")) -> list[Row]:
    """The features of every question of ``splits`` (a held-out half is not searched
    unless asked for)."""
    rows = []
    for corpus in discover():
        s = searcher(corpus, Settings())
        for item in corpus.questions:
            if item.split not in splits:
                continue
            answer = s.search(item.question, 10)
            rows.append((corpus.name, item.split, item.lang, item.answerable, answer.features))
    return rows


def fit_logistic(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = 0.01, steps: int = 20000
) -> tuple[np.ndarray, float]:
    """Gradient descent on the weighted log loss; features are standardised first."""
    mean, std = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / std
    w = np.zeros(x.shape[1])
    b = 0.0
    weight = weight / weight.sum()
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        grad_w = z.T @ (weight * (p - y)) + l2 * w
        grad_b = float(np.sum(weight * (p - y)))
        w -= 0.5 * grad_w
        b -= 0.5 * grad_b
    # Undo the standardisation so the model reads raw features.
    return w / std, b - float((w * mean / std).sum())


def fit(rows: list[Row]) -> ConfidenceModel:
    defaults = {f: float(np.mean([r[4].get(f, 0.0) for r in rows if r[3]])) for f in FEATURES}
    x = np.array([[r[4].get(f, defaults[f]) for f in FEATURES] for r in rows])
    y = np.array([1.0 if r[3] else 0.0 for r in rows])
    sizes = {c: sum(r[0] == c for r in rows) for c in {r[0] for r in rows}}
    weight = np.array([1.0 / sizes[r[0]] for r in rows])
    w, b = fit_logistic(x, y, weight)
    biases = {}
    corpus = np.array([r[0] for r in rows])
    for lang in ("en", "zh"):
        mine = np.array([r[2] == lang for r in rows])
        p = 1 / (1 + np.exp(-(x[mine] @ w + b)))
        ys, cs = y[mine], corpus[mine]
        grid = [float(t) for t in np.linspace(0.02, 0.98, 193)]

        def declined_rates(
            t: float, p: np.ndarray = p, ys: np.ndarray = ys, cs: np.ndarray = cs
        ) -> tuple[float, float]:
            """Off-topic declined and answerable declined, averaged over corpora."""
            d = p < t
            off = [
                d[(cs == c) & (ys == 0)].mean() for c in set(cs) if ((cs == c) & (ys == 0)).any()
            ]
            on = [d[(cs == c) & (ys == 1)].mean() for c in set(cs) if ((cs == c) & (ys == 1)).any()]
            return float(np.mean(off)), float(np.mean(on))

        allowed = [t for t in grid if declined_rates(t)[1] <= MAX_FALSE_DECLINES] or [grid[0]]
        t = max(allowed, key=lambda t: (declined_rates(t)[0], -t))
        biases[lang] = round(b - math.log(t / (1 - t)), 3)
    return ConfidenceModel(
        weights={f: round(float(v), 3) for f, v in zip(FEATURES, w, strict=True)},
        biases=biases,
        defaults={f: round(v, 3) for f, v in defaults.items()},
    )


def rates(model: ConfidenceModel, rows: list[Row]) -> str:
    off = [model.probability(r[4], r[2]) < 0.5 for r in rows if not r[3]]
    on = [model.probability(r[4], r[2]) < 0.5 for r in rows if r[3]]
    show = f"{np.mean(off):.2f}" if off else "—"
    return f"{show}/{np.mean(on):.2f} (n={len(off)}/{len(on)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=["dev", "test", "all"])
    parser.add_argument("--write", action="store_true", help="write qa/data/confidence.json")
    parser.add_argument("--report-test", action="store_true", help="also print held-out rates")
    args = parser.parse_args()
    wanted = ("dev", "test") if args.split == "all" or args.report_test else (args.split,)
    rows = collect(wanted)
    train = [r for r in rows if args.split == "all" or r[1] == args.split]
    model = fit(train)
    print(json.dumps(model.to_json(), indent=1))
    print("off-topic declined / answerable declined, per corpus:")
    for corpus in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in train if r[0] == corpus]
        loco = fit([r for r in train if r[0] != corpus])
        line = f"  {corpus:20} fitted {rates(model, mine)}  leave-one-out {rates(loco, mine)}"
        if args.report_test:
            test = [r for r in rows if r[0] == corpus and r[1] == "test"]
            line += f"  test {rates(model, test)}"
        print(line)
    if args.write:
        MODEL_FILE.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
        print(f"Wrote {MODEL_FILE}")


if __name__ == "__main__":
    main()
