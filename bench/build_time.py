"""Build times: the bundled notes (full, then incremental), and a mixed 1,800-chunk case.

    python bench/build_time.py [--runs 3]
    python bench/build_time.py --case mixed [--runs 1]

Both are timed as a user runs them, in a new process, on a copy of the notes.
`bundled`: `qa build`, then again after editing one note; target: the incremental rebuild
takes ≤ 10% of the full build. `mixed`: a folder made in a temporary directory (never in
the repository) from ``../shared/corpora/interview-notes-zh`` (Chinese with English terms)
plus the bundled notes (English with Chinese), ~1,830 chunks; one full build per run in a
child that records when each stage starts and ends, then the tokens each model read, so
the report gives seconds (wall and CPU) per stage, CPU microseconds per token, peak RSS,
and when the first phase was published (answers from BM25 and MiniLM while e5 fills in).
Target: ≤ 90 s on a quiet machine (the load average is recorded beside the figures),
first answers within 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from common import QA, ROOT, run_child, save

SHARED_ZH = ROOT.parent / "shared" / "corpora" / "interview-notes-zh"

# The child: one full build, with the time each progress stage is first and last seen.
TIMED_BUILD = """
import json, resource, sys, time
from pathlib import Path
start = time.perf_counter()
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
from qa.store.build import build_index
from qa.library import Library
lib = Library.configure(Path(sys.argv[1]), Path(sys.argv[2]))
corpus, index, settings = lib.corpus, lib.index_dir, lib.settings
stages = {}
def progress(stage, done, total):
    now = time.perf_counter() - start
    seen = stages.setdefault(stage, [now, now, cpu(), cpu()])
    seen[1], seen[3] = now, cpu()
first = []
ready = time.perf_counter() - start
import inspect
phases = "published" in inspect.signature(build_index).parameters  # since session 8
kw = {"published": lambda gen: first.append(time.perf_counter() - start)} if phases else {}
report = build_index(corpus, index, settings, progress, full=True, **kw)
total = time.perf_counter() - start
print(json.dumps({"imports_s": ready, "stages": stages, "total_s": total, "cpu_s": cpu(),
                  "first_answers_s": first[0] if first else None,
                  "chunks": report.added + report.changed + report.unchanged}))
"""


def make_mixed(folder: Path) -> Path:
    """The mixed case: interview-notes-zh under zh/, the bundled notes beside it."""
    if not SHARED_ZH.is_dir():
        sys.exit(f"{SHARED_ZH} is missing (the shared corpora are needed for --case mixed)")
    notes = folder / "notes"
    shutil.copytree(SHARED_ZH, notes / "zh", ignore=shutil.ignore_patterns("questions.jsonl"))
    for note in (ROOT / "corpus").glob("*.md"):
        shutil.copy(note, notes / note.name)
    return notes


def token_counts(index: Path) -> dict[str, int]:
    """Tokens each dense model read for the texts of the index just built."""
    from qa.lang.glossary import load_glossary
    from qa.models.encoders import get_encoder
    from qa.store.build import embed_text, english_reader
    from qa.store.index import Index, read_mined

    built = Index.load(index)
    glossary = load_glossary(Path(built.manifest.corpus), read_mined(built.folder))
    counts = {}
    reader = english_reader(glossary)  # what the build gives English-only models
    for name, channel in built.manifest.dense.items():
        encoder = get_encoder(channel.model)
        count = getattr(encoder, "token_count", None)  # engines before issue 15 had none
        if count is not None:
            counts[name] = sum(
                count(embed_text(c, encoder, glossary, reader)) for c in built.chunks
            )
    return counts


def mixed(runs: int) -> None:
    results = []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            notes = make_mixed(Path(tmp))
            index = Path(tmp) / "index"
            load_before = os.getloadavg()
            wall, peak, result = run_child(
                [sys.executable, "-c", TIMED_BUILD, str(notes), str(index)]
            )
            load_after = os.getloadavg()
            timed = json.loads(result.stdout.splitlines()[-1])
            tokens = token_counts(index)
            stages = {s: round(b - a, 2) for s, (a, b, _, _) in timed["stages"].items()}
            cpu = {s: round(d - c, 2) for s, (_, _, c, d) in timed["stages"].items()}
            results.append(
                {
                    "wall_s": wall,
                    "peak_rss_mb": peak,
                    "chunks": timed["chunks"],
                    "stages_s": stages,
                    "stages_cpu_s": cpu,
                    "cpu_s": timed["cpu_s"],
                    "first_answers_s": timed["first_answers_s"],
                    "tokens": tokens,
                    "load_before": load_before,
                    "load_after": load_after,
                }
            )
            print(
                f"run {run + 1}: {timed['chunks']} chunks, {wall:.1f} s wall, peak RSS "
                f"{peak:.0f} MB, load {load_before[0]:.2f} → {load_after[0]:.2f}; "
                f"{timed['cpu_s']:.1f} CPU s; first answers after "
                f"{timed['first_answers_s'] or timed['total_s']:.1f} s"
            )
            for stage, seconds in stages.items():
                channel = stage.removeprefix("embedding (").removesuffix(")")
                per = (
                    f", {cpu[stage]:.1f} CPU s, "
                    f"{1e6 * cpu[stage] / tokens[channel]:.0f} CPU µs per token "
                    f"({tokens[channel]:,} tokens)"
                    if channel in tokens
                    else ""
                )
                print(f"  {stage}: {seconds:.1f} s{per}")
    walls = [r["wall_s"] for r in results]
    print(f"mixed full build {statistics.median(walls):.1f} s (target ≤ 90 s on a quiet machine)")
    path = save("build_time_mixed", {"runs": results})
    print(f"wrote {path}")


def bundled(runs: int) -> None:
    full, incremental, rss = [], [], []
    for run in range(runs):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["bundled", "mixed"], default="bundled")
    parser.add_argument("--runs", type=int)
    args = parser.parse_args()
    if args.case == "mixed":
        mixed(args.runs or 1)
    else:
        bundled(args.runs or 3)


if __name__ == "__main__":
    main()
