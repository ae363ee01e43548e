"""How well `qa gaps` finds where an empty heading is answered, and its duplicates.

    python bench/gaps.py [--labels bench/questions/gaps/labels.jsonl] [--sweep] [--save]

The labels (bench/questions/gaps/labels.jsonl, written blind from the notes alone) name,
for empty headings of four corpora, whether the notes answer them elsewhere, which
sections do (``file#heading``) and which other empty headings ask the same thing. Each
corpus's bench index (index/bench/<name>/, as bench/corpora.py builds it) is opened
read-only and the gaps core (qa.study.gaps.find_gaps, what `qa gaps` runs) is run on it.

"Answered elsewhere", at the default confidence threshold:
- a heading qa shows candidates for is *correct* when a shown candidate (the first one,
  for @1; any of the up to three, for @3) is one of its labelled answers, and *wrong*
  otherwise (not answered according to the label, or answered by another section);
- precision = correct / shown, recall = correct / labelled as answered elsewhere.

Duplicates: each labelled heading's predicted duplicates against its labelled ones
(pairs, micro-averaged). ``--sweep`` also scores the duplicate rule over a grid of
dense weights and thresholds (how DUPLICATE_DENSE and DUPLICATE_THRESHOLD were chosen)
and the decline threshold over a range.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from common import save  # noqa: E402

from qa.retrieve.confidence import DEFAULT_MODEL  # noqa: E402
from qa.retrieve.search import Searcher  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.store.index import Index, check_freshness  # noqa: E402
from qa.study import gaps  # noqa: E402

LABELS = ROOT / "bench" / "questions" / "gaps" / "labels.jsonl"
INDEXES = Path("/work/main/index/bench")
ROOTS = {
    "bundled": Path("/work/main/corpus"),
    "mixed": Path("/work/main/tests/corpus_mixed"),
}
SHARED = Path("/work/shared/corpora")
STORED = False  # --stored-vectors: the sweep reads the index's vectors of the heading paths


@dataclass
class Label:
    corpus: str
    file: str
    line: int
    heading: str
    answered_elsewhere: bool
    answers: set[str]
    duplicates: set[str]

    @property
    def key(self) -> str:
        return norm(f"{self.file}#{self.heading}")


def norm(key: str) -> str:
    """``file#heading`` compared without case, runs of spaces or inline-code and
    emphasis marks (the index keeps a heading's text, not its Markdown)."""
    return " ".join(key.lower().replace("`", "").replace("*", "").split())


def load_labels(path: Path) -> list[Label]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(
                Label(
                    d["corpus"],
                    d["file"],
                    int(d["line"]),
                    d["heading"],
                    bool(d["answered_elsewhere"]),
                    {norm(a) for a in d.get("answers") or []},
                    {norm(a) for a in d.get("duplicates") or []},
                )
            )
        except (ValueError, KeyError, TypeError) as err:
            print(f"{path}:{n}: skipped ({err})", file=sys.stderr)
    return out


def corpus_root(name: str) -> Path:
    return ROOTS.get(name, SHARED / name)


def open_searcher(name: str) -> Searcher:
    """The corpus's bench index, read-only: never rebuilt here."""
    index_dir = INDEXES / name
    if not check_freshness(corpus_root(name), index_dir, Settings()).fresh:
        print(
            f"  warning: {index_dir} is older than its notes; scoring it as it is", file=sys.stderr
        )
    return Searcher(Index.load(index_dir), Settings())


UNLISTED: list[Label] = []  # labelled headings qa gaps does not list


def match(labels: Sequence[Label], report: gaps.GapsReport) -> list[tuple[Label, gaps.Gap]]:
    """Each label with its gap: same file and line, else same file and heading. A
    labelled heading qa does not list (``---`` read as a heading) goes to UNLISTED."""
    by_line = {(g.place.file, g.place.line): g for g in report.gaps}
    by_key = {norm(g.place.key()): g for g in report.gaps}
    out = []
    for label in labels:
        gap = by_line.get((label.file, label.line)) or by_key.get(label.key)
        if gap is None:
            UNLISTED.append(label)
            print(
                f"  no empty heading {label.file}:{label.line} {label.heading!r}", file=sys.stderr
            )
            continue
        out.append((label, gap))
    return out


def answered_scores(
    pairs: Sequence[tuple[Label, gaps.Gap]], threshold: float | None = None, depth: int = 1
) -> dict[str, Any]:
    """Precision and recall of "answered elsewhere" at ``threshold`` (None: what qa
    decided), counting the first ``depth`` candidates."""
    shown = correct = 0
    for label, gap in pairs:
        if threshold is None:
            candidates = gap.candidates
        else:
            candidates = gap.nearest if gap.about and gap.confidence >= threshold else []
        if not candidates:
            continue
        shown += 1
        keys = {norm(c.place.key()) for c in candidates[:depth]}
        correct += bool(keys & label.answers) and label.answered_elsewhere
    positives = sum(label.answered_elsewhere for label, _ in pairs)
    return {
        "labelled": len(pairs),
        "answered_elsewhere": positives,
        "shown": shown,
        "correct": correct,
        "precision": correct / shown if shown else None,
        "recall": correct / positives if positives else None,
    }


def duplicate_scores(
    pairs: Sequence[tuple[Label, set[str]]],
) -> dict[str, Any]:
    predicted = found = 0
    labelled = sum(len(label.duplicates) for label, _ in pairs)
    for label, keys in pairs:
        predicted += len(keys)
        found += len(keys & label.duplicates)
    return {
        "labelled_pairs": labelled,
        "predicted_pairs": predicted,
        "correct": found,
        "precision": found / predicted if predicted else None,
        "recall": found / labelled if labelled else None,
    }


def pair_features(
    searcher: Searcher,
) -> tuple[list[gaps.Place], dict[tuple[int, int], tuple[float, float]]]:
    """Cosine and word overlap of every pair of empty headings (for the sweep)."""
    places = gaps.empty_headings(searcher.index.chunks)
    if STORED:
        vectors = []
        for channel in searcher.settings.dense_channels:
            m = np.asarray(searcher._matrix(channel)[[row for row, _ in places]])
            vectors.append(m / np.linalg.norm(m, axis=1, keepdims=True))
    else:
        vectors = gaps.heading_vectors(searcher, [gaps.clean_heading(p.heading) for _, p in places])
    cosine = sum(v @ v.T for v in vectors) / len(vectors)
    out = {}
    for i in range(len(places)):
        for j in range(i + 1, len(places)):
            same = places[i][0] == places[j][0]
            overlap = gaps.word_overlap(
                places[i][1].heading, places[j][1].heading, searcher.tokenizer.tokenize
            )
            out[(i, j)] = (1.0, 1.0) if same else (float(cosine[i, j]), overlap)
    return [p for _, p in places], out


def fmt(x: float | None) -> str:
    return "  –  " if x is None else f"{x:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--sweep", action="store_true", help="Also sweep the thresholds.")
    parser.add_argument(
        "--question",
        choices=["heading", "parent"],
        default="heading",
        help="Search the heading alone (default) or with its parent heading.",
    )
    parser.add_argument(
        "--stored-vectors",
        action="store_true",
        help="Sweep duplicates on the index's stored vectors (whole heading paths).",
    )
    parser.add_argument("--save", action="store_true", help="Write bench/results/gaps.json.")
    args = parser.parse_args()
    global STORED
    STORED = args.stored_vectors
    labels = load_labels(args.labels)
    by_corpus: dict[str, list[Label]] = defaultdict(list)
    for label in labels:
        by_corpus[label.corpus].append(label)

    def parent_question(place: gaps.Place) -> str:
        path = place.heading_path
        return " ".join(path[-2:]) if len(path) > 2 else place.heading

    question_of = gaps.gap_question if args.question == "heading" else parent_question
    everything: list[tuple[Label, gaps.Gap]] = []
    dup_pairs: list[tuple[Label, set[str]]] = []
    features: dict[str, Any] = {}
    rows = []
    for name, group in by_corpus.items():
        print(f"{name}: {len(group)} labelled headings", file=sys.stderr, flush=True)
        searcher = open_searcher(name)
        report = gaps.find_gaps(searcher, question_of=question_of)
        pairs = match(group, report)
        everything += pairs
        dup_pairs += [
            (label, {norm(d.place.key()) for d in gap.duplicates}) for label, gap in pairs
        ]
        rows.append((name, answered_scores(pairs), answered_scores(pairs, depth=3)))
        if args.sweep:
            features[name] = (pairs, *pair_features(searcher))
    total1 = answered_scores(everything)
    total3 = answered_scores(everything, depth=gaps.CANDIDATES)
    dups = duplicate_scores(dup_pairs)

    print(
        f"\n'answered elsewhere' at the default threshold ({DEFAULT_MODEL.threshold}), "
        f"question = {args.question}"
    )
    print(
        f"{'corpus':<20} {'labelled':>8} {'answered':>8} {'shown':>6} "
        f"{'P@1':>6} {'R@1':>6} {'P@3':>6} {'R@3':>6}"
    )
    for name, s1, s3 in [*rows, ("all", total1, total3)]:
        print(
            f"{name:<20} {s1['labelled']:>8} {s1['answered_elsewhere']:>8} {s1['shown']:>6} "
            f"{fmt(s1['precision']):>6} {fmt(s1['recall']):>6} "
            f"{fmt(s3['precision']):>6} {fmt(s3['recall']):>6}"
        )
    if UNLISTED:
        missed = sum(label.answered_elsewhere for label in UNLISTED)
        print(
            f"{len(UNLISTED)} labelled headings are not listed by qa gaps "
            f"({missed} of them labelled as answered elsewhere: missed)"
        )
    print(
        f"\nduplicates (dense weight {gaps.DUPLICATE_DENSE}, threshold "
        f"{gaps.DUPLICATE_THRESHOLD}): precision {fmt(dups['precision'])}, recall "
        f"{fmt(dups['recall'])} ({dups['correct']} of {dups['predicted_pairs']} predicted, "
        f"{dups['labelled_pairs']} labelled)"
    )
    result: dict[str, Any] = {
        "labels": str(args.labels),
        "question": args.question,
        "threshold": DEFAULT_MODEL.threshold,
        "answered_at_1": {name: s1 for name, s1, _ in rows} | {"all": total1},
        "answered_at_3": {name: s3 for name, _, s3 in rows} | {"all": total3},
        "duplicates": dups,
        "unlisted": [
            {"file": u.file, "line": u.line, "heading": u.heading, "answered": u.answered_elsewhere}
            for u in UNLISTED
        ],
    }
    if args.sweep:
        result["sweep"] = sweep(everything, features)
    if args.save:
        print(f"wrote {save('gaps', result)}")


def sweep(everything: Sequence[tuple[Label, gaps.Gap]], features: dict[str, Any]) -> dict[str, Any]:
    print("\ndecline threshold: P@1 / R@1")
    thresholds = {}
    for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        s = answered_scores(everything, threshold=t)
        thresholds[t] = s
        print(f"  {t:.1f}: {fmt(s['precision'])} / {fmt(s['recall'])}  (shown {s['shown']})")
    print("\nduplicates: dense weight × threshold → precision / recall / F1")
    grid = {}
    best: tuple[float, float, float] = (-1.0, 0.0, 0.0)
    for dense in (0.0, 0.25, 0.5, 0.75, 1.0):
        for threshold in [x / 100 for x in range(40, 100, 5)]:
            judged = []
            for pairs, places, pf in features.values():
                index = {(p.file, p.line): i for i, p in enumerate(places)}
                for label, gap in pairs:
                    i = index[(gap.place.file, gap.place.line)]
                    keys = set()
                    for (a, b), (cos, overlap) in pf.items():
                        if i in (a, b) and gaps.duplicate_score(cos, overlap, dense) >= threshold:
                            keys.add(norm(places[b if a == i else a].key()))
                    judged.append((label, keys))
            s = duplicate_scores(judged)
            p, r = s["precision"] or 0.0, s["recall"] or 0.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            grid[f"{dense}/{threshold}"] = {**s, "f1": f1}
            if f1 > best[0]:
                best = (f1, dense, threshold)
            print(f"  {dense:.2f} × {threshold:.2f}: {p:.3f} / {r:.3f} / {f1:.3f}")
    print(f"best F1 {best[0]:.3f} at dense weight {best[1]}, threshold {best[2]}")
    return {"decline_threshold": thresholds, "duplicates": grid, "best_duplicates": best}


if __name__ == "__main__":
    main()
