"""How much a per-folder choice of fusion weights could gain: every weight triple and
coverage weight below, scored on every corpus's dev half with qa eval's code.

    python bench/fusion_oracle.py [--split dev]

Prints Hit@1 per corpus x question language for each setting and the macro-average.
The best setting per corpus, chosen with that corpus's own labels, bounds what a
label-free per-folder calibration could gain (bench/results/session12-notes.md).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora

from qa.settings import Settings

WEIGHTS = [
    (1, 1, 1), (1, 0.5, 1), (1, 1, 0.5), (1, 0.5, 0.5), (1.5, 1, 1), (0.5, 1, 1),
    (1, 1.5, 1), (1, 1, 1.5), (1, 0.5, 1.5), (2, 1, 1), (1, 2, 1), (1, 1, 2),
]  # fmt: skip
COVERAGE = (0.0, 0.2, 0.5, 0.75)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=["dev", "test", "all"], default="dev")
    args = parser.parse_args()
    base = Settings()
    names = ["default"]
    for w in WEIGHTS:
        name = f"weights {w[0]}/{w[1]}/{w[2]}"
        corpora.PRESETS[name] = replace(base, weights={"bm25": w[0], "minilm": w[1], "e5": w[2]})
        names.append(name)
    for c in COVERAGE:
        name = f"coverage {c}"
        corpora.PRESETS[name] = replace(base, coverage_weight=c)
        names.append(name)
    found = corpora.discover()
    results = corpora.score(found, names, args.split)
    best: dict[str, tuple[float, str]] = {}
    for name in names:
        cells = corpora.language_cells(results[name])
        for key, value in cells.items():
            if value > best.get(key, (-1.0, ""))[0]:
                best[key] = (value, name)
        mean = corpora.macro(results[name])[0]
        print(f"{name:22} macro {mean:.3f} | " + " ".join(f"{k} {v:.2f}" for k, v in cells.items()))
    default = corpora.language_cells(results["default"])
    print("\nbest per cell (oracle) against the default:")
    for key, (value, name) in best.items():
        print(f"  {key:28} {default[key]:.3f} -> {value:.3f}  ({name})")


if __name__ == "__main__":
    main()
