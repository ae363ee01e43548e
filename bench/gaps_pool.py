"""Pooled judgments for the gaps labels: is an empty heading answered elsewhere?

    python bench/gaps_pool.py pool OUT_DIR    # heading / candidate pairs to judge
    python bench/gaps_pool.py merge OUT_DIR   # labels-judged.jsonl from two judges

The gaps labels (bench/questions/gaps/labels.jsonl) were written from the notes alone: a
writer who finds no answer to an empty heading in 71 files may simply not have found it.
As for the retrieval labels (bench/pool_judgments.py, TREC-style pooling), `pool`
collects for every labelled empty heading the sections that any of three searches ranks
in its top 3 with the heading as the question (the default, BM25 alone, MiniLM alone), so
the pool does not favour the system measured, and writes them shuffled, without saying
which section is labelled or who found it. `merge` reads two judges' verdicts
(`verdicts-<judge>.jsonl`: {"id": ..., "verdict": "answers"|"partly"|"no"}) and writes
bench/questions/gaps/labels-judged.jsonl: a section both judges say answers the heading
is added to its answers (the heading is then answered elsewhere), and a labelled answer
both say does not answer it is taken away. Every change is listed in
bench/questions/gaps/judgments.jsonl with both verdicts.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import gaps as G  # noqa: E402

from qa.presets import BUILTIN  # noqa: E402
from qa.retrieve.search import Searcher  # noqa: E402
from qa.store.index import Index  # noqa: E402
from qa.study import gaps  # noqa: E402

POOL = ("default", "bm25", "minilm")
TOP = 3
MAX_CHARS = 4000
JUDGED = ROOT / "bench" / "questions" / "gaps" / "labels-judged.jsonl"
CHANGES = ROOT / "bench" / "questions" / "gaps" / "judgments.jsonl"

INSTRUCTIONS = """# Judge: does this section answer the empty heading?

Study notes often have a heading with nothing under it yet (an "empty heading"), e.g.
"Why does dropout reduce overfitting?" or "决策树如何避免过拟合". For each pair in
pairs.jsonl you see the empty heading (with the headings above it, for context: the note
it sits in and its parents) and one section from elsewhere in the same notes.

Verdict, one per pair:
- "answers": the section's own text states what someone writing under that heading would
  write (the answer to its question, or the explanation of its topic), at least in its
  core. A section that only mentions the topic, or answers a neighbouring question (the
  parent topic in general, a sibling method, the same word in another sense), does not.
- "partly": it answers part of it (one of several things asked, or a short version).
- "no": anything else.

Judge each pair on its own, from the texts shown. Read only pairs.jsonl and this file.
Write verdicts-JUDGE.jsonl in this folder, one line per pair:
{"id": "<the pair's id>", "verdict": "answers"|"partly"|"no"}
Check with python that every id of pairs.jsonl has exactly one verdict, then reply with
the counts of each verdict.
"""


def section_text(index: Index, row: int) -> str:
    """All windows of the section ``row`` belongs to, in order."""
    key = index.chunks[row].section_key
    text = "\n".join(c.text for c in index.chunks if c.section_key == key)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " […]"


def pool(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    labels = G.load_labels(G.LABELS)
    by_corpus: dict[str, list[G.Label]] = defaultdict(list)
    for label in labels:
        by_corpus[label.corpus].append(label)
    pairs = []
    for name, group in by_corpus.items():
        index = Index.load(G.INDEXES / name)
        searchers = {s: Searcher(index, BUILTIN[s]) for s in POOL}
        report = gaps.find_gaps(searchers["default"])
        row_of = {id(c): r for r, c in enumerate(index.chunks)}
        for label, gap in G.match(group, report):
            leave_out = gaps.navigation_rows(index.chunks)
            found: dict[str, int] = {}
            for s in searchers.values():
                cands = gaps.find_candidates(s, gap.question, leave_out).sections
                for c in cands[:TOP]:
                    found.setdefault(c.place.key(), row_of[id(c.chunk)])
            for key, row in found.items():
                chunk = index.chunks[row]
                pairs.append(
                    {
                        "id": f"{name}:{label.file}:{label.line}::{key}",
                        "empty_heading": {
                            "note": label.file,
                            "headings_above": list(gap.place.heading_path[:-1]),
                            "heading": gap.place.heading,
                        },
                        "section": {
                            "note": chunk.location.file,
                            "heading_path": list(chunk.heading_path),
                            "text": section_text(index, row),
                        },
                    }
                )
    random.Random(11).shuffle(pairs)
    for i, p in enumerate(pairs):
        p["id"] = f"p{i:04d}|" + p["id"]
    with (out / "pairs.jsonl").open("w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    (out / "INSTRUCTIONS.md").write_text(INSTRUCTIONS, encoding="utf-8")
    print(f"{len(pairs)} pairs for {len(labels)} labelled headings -> {out}")


def merge(out: Path) -> None:
    verdicts: dict[str, list[str]] = defaultdict(list)
    judges = sorted(out.glob("verdicts-*.jsonl"))
    if len(judges) != 2:
        sys.exit(f"need two verdicts-*.jsonl in {out}, found {len(judges)}")
    for path in judges:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                verdicts[d["id"]].append(d["verdict"])
    raw = [json.loads(x) for x in G.LABELS.read_text(encoding="utf-8").splitlines() if x.strip()]
    by_key = {(d["corpus"], d["file"], int(d["line"])): d for d in raw}
    changes = []
    agree = total = 0
    for pid, vs in verdicts.items():
        if len(vs) != 2:
            continue
        total += 1
        agree += vs[0] == vs[1]
        _, rest = pid.split("|", 1)
        head, key = rest.split("::", 1)
        corpus, file, line = head.rsplit(":", 2)
        d = by_key[(corpus, file, int(line))]
        labelled = {G.norm(a) for a in d["answers"]}
        if vs == ["answers", "answers"] and G.norm(key) not in labelled:
            d["answers"].append(key)
            d["answered_elsewhere"] = True
            changes.append({"label": head, "added": key, "verdicts": vs})
        elif vs == ["no", "no"] and G.norm(key) in labelled:
            d["answers"] = [a for a in d["answers"] if G.norm(a) != G.norm(key)]
            d["answered_elsewhere"] = bool(d["answers"])
            changes.append({"label": head, "removed": key, "verdicts": vs})
    with JUDGED.open("w", encoding="utf-8") as f:
        for d in raw:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with CHANGES.open("w", encoding="utf-8") as f:
        for c in changes:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    print(
        f"{total} pairs judged twice, the judges agree on {agree / max(1, total):.1%}; "
        f"{sum('added' in c for c in changes)} answers added, "
        f"{sum('removed' in c for c in changes)} removed -> {JUDGED}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["pool", "merge"])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    pool(args.out) if args.step == "pool" else merge(args.out)


if __name__ == "__main__":
    main()
