"""Full build of the bundled notes, and an incremental rebuild after editing one note.

    python bench/build_time.py [--runs 3]

Both are timed as a user runs them: `qa build` in a new process, on a copy of the notes.
Target: the incremental rebuild takes ≤ 10% of the full build.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from common import QA, ROOT, run_child, save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    full, incremental, rss = [], [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            notes = Path(tmp) / "notes"
            shutil.copytree(ROOT / "corpus", notes)
            index = Path(tmp) / "index"
            cmd = [*QA, "build", "--corpus", str(notes), "--index", str(index)]
            wall, peak, _ = run_child(cmd)
            full.append(wall)
            rss.append(peak)
            note = notes / "ml-interview-prep.md"
            note.write_text(
                note.read_text(encoding="utf-8")
                + f"\n### Edited {run}\n\nA new paragraph about early stopping.\n",
                encoding="utf-8",
            )
            wall, _, result = run_child(cmd)
            incremental.append(wall)
            print(
                f"run {run + 1}: full {full[-1]:.1f} s, incremental {wall:.1f} s — "
                + result.stdout.splitlines()[1]
            )
    f, i = statistics.median(full), statistics.median(incremental)
    print(
        f"full build {f:.1f} s (peak RSS {max(rss):.0f} MB); incremental {i:.1f} s "
        f"= {100 * i / f:.1f}% of full (target ≤ 10%)"
    )
    path = save(
        "build_time", {"full_s": full, "incremental_s": incremental, "full_peak_rss_mb": rss}
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
