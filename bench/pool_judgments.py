"""Pooled relevance judgments for the labelled sets (TREC-style pooling).

    python bench/pool_judgments.py pool OUT_DIR [--since-line N]  # passages to judge
    python bench/pool_judgments.py merge OUT_DIR    # apply what both judges agree on

A hand-written label names the section its author had in mind; another section may
answer the question just as well, and a system that puts it first is then counted
wrong. `pool` collects, for every answerable question, the sections that any of several
settings ranks in its top 3 (each channel alone, the default fusion and its main
alternatives), so the pool does not favour the system being measured. It writes the
passages once (`passages.json`) and the questions in batches, each with its passages
shuffled, without saying which section is labelled or who ranked it, for judges
to read. `merge` reads two judges' verdicts per batch (`verdicts-<batch>-<judge>.jsonl`,
one line per pair: {"q": ..., "p": ..., "verdict": "answers"|"partly"|"no"}) and adds a
section to a question's labels (as `file#heading path`) when both judges say it answers
the question, and takes a labelled section away when both say it does not (unless that
would leave the question with none). It also reports how often the judges accepted the
sections that were labelled already.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

from common import ROOT

from qa.eval.evaluate import Target, load_labelled, matched_targets
from qa.library import Library
from qa.presets import BUILTIN
from qa.retrieve.search import Searcher
from qa.store.index import Index

SETTINGS = ["default", "bm25", "minilm", "e5", "rrf", "no-coverage", "no-glossary", "bm25+minilm"]
TOP = 3
BATCHES = 4
MAX_CHARS = 8000
CORPORA = {
    "bundled": (ROOT / "corpus", ROOT / "index" / "bench" / "corpus"),
    "mixed": (ROOT / "tests" / "corpus_mixed", ROOT / "index" / "bench" / "corpus_mixed"),
}


def section_text(corpus: Path, file: str, start: int, end: int) -> str:
    lines = (corpus / file).read_text(encoding="utf-8").splitlines()
    text = "\n".join(lines[start - 1 : end]).strip()
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " […]"


def pool(out: Path, since_line: int = 1) -> None:
    out.mkdir(parents=True, exist_ok=True)
    questions, passages = [], {}
    for corpus_name, (corpus, index) in CORPORA.items():
        items = [
            i
            for i in load_labelled(corpus / "questions.jsonl")
            if i.answerable and i.line >= since_line
        ]
        if not items:
            continue
        base = Library(corpus, index, BUILTIN["default"]).open()
        searchers = {name: Searcher(base.index, BUILTIN[name], base.encoders) for name in SETTINGS}
        # The whole extent of each section, over all its windows.
        extent: dict[tuple[str, int], list] = {}
        for chunk in base.index.chunks:
            loc = chunk.location
            key = chunk.section_key
            lo, hi, path = extent.get(key, (loc.start_line, loc.end_line, loc.heading_path))
            extent[key] = [min(lo, loc.start_line), max(hi, loc.end_line), path]
        for item in items:
            keys: dict[tuple[str, int], bool] = {}
            targets = [Target.parse(r) for r in item.relevant]
            for searcher in searchers.values():
                for hit in searcher.search(item.question, TOP).hits:
                    keys[hit.chunk.section_key] = bool(matched_targets(hit.chunk, targets))
            qid = f"{corpus_name}:{item.line}"
            pids = []
            for key, labelled in keys.items():
                pid = f"{corpus_name}:{key[0]}:{key[1]}"
                if pid not in passages:
                    lo, hi, path = extent[key]
                    passages[pid] = {
                        "file": key[0],
                        "line": lo,
                        "heading": " > ".join(path),
                        "text": section_text(corpus, key[0], lo, hi),
                    }
                pids.append((pid, labelled))
            questions.append(
                {
                    "q": qid,
                    "question": item.question,
                    "split": item.split,
                    "lang": item.lang,
                    "pool": pids,
                }
            )
    rng = random.Random(20261122)
    rng.shuffle(questions)
    (out / "key.json").write_text(json.dumps(questions, ensure_ascii=False, indent=1))
    (out / "passages.json").write_text(json.dumps(passages, ensure_ascii=False, indent=1))
    for b in range(BATCHES):
        batch = questions[b::BATCHES]
        with open(out / f"batch-{b}.jsonl", "w", encoding="utf-8") as f:
            for q in batch:
                pids = [p for p, _ in q["pool"]]
                rng.shuffle(pids)
                line = {"q": q["q"], "question": q["question"], "passages": pids}
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
        pairs = sum(len(q["pool"]) for q in batch)
        print(f"batch {b}: {len(batch)} questions, {pairs} question-passage pairs")


def merge(out: Path) -> None:
    key = {q["q"]: q for q in json.loads((out / "key.json").read_text())}
    passages = json.loads((out / "passages.json").read_text())
    verdicts: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(out.glob("verdicts-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                v = json.loads(line)
                verdicts[(v["q"], v["p"])].append(v["verdict"])
    agree = total = 0
    labelled_ok = labelled_n = kept = 0
    added: dict[str, set[str]] = defaultdict(set)
    removed: dict[str, set[str]] = defaultdict(set)
    for qid, q in key.items():
        for pid, labelled in q["pool"]:
            vs = verdicts.get((qid, pid), [])
            if len(vs) != 2:
                raise SystemExit(f"{qid} {pid}: {len(vs)} verdicts, expected 2")
            agree += (vs[0] == "answers") == (vs[1] == "answers")
            total += 1
            if labelled:
                labelled_n += 1
                labelled_ok += vs[0] == vs[1] == "answers"
                if vs[0] == vs[1] == "no":
                    removed[qid].add(pid)
            elif vs[0] == vs[1] == "answers":
                added[qid].add(pid)
    print(f"judges agree (answers or not) on {agree}/{total} pairs ({agree / total:.3f})")
    print(f"labelled sections both judges accept: {labelled_ok}/{labelled_n}")
    for corpus_name, (corpus, index_dir) in CORPORA.items():
        sections = defaultdict(list)  # section pid -> its locations
        for chunk in Index.load(index_dir).chunks:
            if chunk.answered:
                sections[f"{corpus_name}:{chunk.section_key[0]}:{chunk.section_key[1]}"] += [chunk]
        path = corpus / "questions.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines()
        for n, text in enumerate(lines, start=1):
            qid = f"{corpus_name}:{n}"
            if qid not in added and qid not in removed:
                continue
            data = json.loads(text)
            relevant = list(data["relevant"])
            drop = removed.get(qid, set())
            if drop:
                relevant, gone = _without(relevant, drop, sections, passages)
                if not gone:  # every section it named was rejected: keep it as it was
                    relevant = list(data["relevant"])
                    kept += 1
                    drop = set()
            for pid in sorted(added.get(qid, ())):
                label = _label(passages[pid])
                if label not in relevant:
                    relevant.append(label)
            print(f"{qid} {data['question']!r}: +{len(added.get(qid, ()))} -{len(drop)}")
            data["relevant"] = relevant
            lines[n - 1] = json.dumps(data, ensure_ascii=False)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(
        f"sections added: {sum(map(len, added.values()))} to {len(added)} questions; "
        f"removed: {sum(map(len, removed.values()))} from {len(removed)} questions "
        f"({kept} questions kept as they were, all their sections rejected)"
    )


def _label(passage: dict) -> str:
    return f"{passage['file']}#{passage['heading']}"


def _without(
    relevant: list[str], drop: set[str], sections: dict[str, list], passages: dict
) -> tuple[list[str], bool]:
    """``relevant`` naming no section of ``drop``: an entry that named one of them is
    replaced by the other sections it named. Also says whether any section is left."""
    out: list[str] = []
    for entry in relevant:
        target = Target.parse(entry)
        named = [
            pid
            for pid, chunks in sections.items()
            if any(matched_targets(c, [target]) for c in chunks)
        ]
        if not set(named) & drop:
            out.append(entry)
            continue
        for pid in named:
            if pid in drop:
                continue
            chunk = sections[pid][0]
            label = f"{chunk.section_key[0]}#{' > '.join(chunk.location.heading_path)}"
            if label not in out:
                out.append(label)
    return out, bool(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["pool", "merge"])
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--since-line", type=int, default=1, help="pool only questions from this line on"
    )
    args = parser.parse_args()
    pool(args.out, args.since_line) if args.step == "pool" else merge(args.out)


if __name__ == "__main__":
    main()
