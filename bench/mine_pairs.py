"""Mining `English (中文)` pairs: the pattern qa uses against the one before it.

    python bench/mine_pairs.py

The earlier pattern let a hyphen both join and separate English words, so a line with a
long hyphenated URL anchor (ds-qa-multi-en has 600-character ones) backtracked for
minutes: one build of that folder took over 6 minutes. Printed: on every line of the
bundled notes, tests/corpus_mixed and ../shared/corpora, whether both patterns find the
same pairs, and their time; then the time on one hyphenated word of growing length.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.lang.glossary import _EN_THEN_ZH as CURRENT  # noqa: E402
from qa.lang.text import HAN  # noqa: E402

EARLIER = re.compile(
    r"([A-Za-z][A-Za-z0-9+\-]*(?:[ \-][A-Za-z0-9+\-]+){0,5})"
    rf"\s*[（(]\s*([{HAN}]{{2,12}})\s*[)）]"
)
SHARED = Path(os.environ.get("QA_SHARED_CORPORA", ROOT.parent / "shared" / "corpora"))
MAX_LINE = 400  # longer lines take the earlier pattern minutes


def main() -> None:
    folders = [ROOT / "corpus", ROOT / "tests" / "corpus_mixed"]
    folders += sorted(p for p in SHARED.iterdir() if p.is_dir()) if SHARED.is_dir() else []
    lines = [
        line
        for folder in folders
        for note in folder.rglob("*.md")
        for line in note.read_text(encoding="utf-8", errors="replace").splitlines()
        if len(line) < MAX_LINE
    ]
    timed = {}
    for name, pattern in (("earlier", EARLIER), ("current", CURRENT)):
        start = time.perf_counter()
        timed[name] = ([pattern.findall(line) for line in lines], time.perf_counter() - start)
    same = timed["earlier"][0] == timed["current"][0]
    pairs = sum(map(len, timed["current"][0]))
    print(f"{len(lines)} lines under {MAX_LINE} characters, {pairs} pairs; same pairs: {same}")
    print(f"  earlier {timed['earlier'][1]:.2f} s, current {timed['current'][1]:.3f} s")
    print("one hyphenated word of n parts, then a space (no pair): earlier / current")
    for n in (10, 15, 20, 25):
        line = "q" + "-ab" * n + " tail"
        took = []
        for pattern in (EARLIER, CURRENT):
            start = time.perf_counter()
            pattern.findall(line)
            took.append(time.perf_counter() - start)
        print(f"  n={n:2}: {took[0]:.4f} s / {took[1]:.6f} s")


if __name__ == "__main__":
    main()
