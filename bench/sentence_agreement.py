"""How often a second reader marks the same answering sentence as the gold labels: the
ceiling a sentence scorer can be held to.

    python bench/sentence_agreement.py pool OUT_DIR [--split test] [--labels DIR ...]
    python bench/sentence_agreement.py score OUT_DIR

`pool` writes, for every located question of the sentence sets (bench/sentences.py's
cases: the gold passage cut into qa's units), OUT_DIR/items.jsonl: the question, the
passage's heading path and its units, numbered, without saying which are gold. The key
(each unit's span and the gold spans) goes to OUT_DIR/../<name>-key.json, out of the
reader's folder. A reader who sees only items.jsonl and the instructions writes
OUT_DIR/picks.jsonl: {"id": ..., "units": [best first, ...]} (empty: nothing answers).
`score` prints, per language, the reader's sentence Hit@1 against the gold labels (their
first unit overlaps a gold sentence, as bench/sentences.py scores qa) and the same for
qa and both baselines on the same questions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import sentences as S  # noqa: E402

from qa.eval.sentence_eval import METHODS, marked, unlocated  # noqa: E402
from qa.retrieve.answer_span import load_span_weights, overlaps  # noqa: E402

SETS = ("sentences", "sentences-fresh", "sentences-fresh3")

INSTRUCTIONS = """# Mark the sentences that answer

Each line of items.jsonl is a question someone asked about their study notes, and the
passage of the notes that answers it, cut into numbered units (sentences, list items,
table rows, code blocks). Read only this file and items.jsonl.

For each question, pick the unit or units that actually answer it: the one or two a
person revising for an interview would highlight. Best first. Usually one or two units;
more only when the answer really is spread over them. If no unit answers it, pick none.

Write picks.jsonl in this folder, one line per item:
{"id": "<the item's id>", "units": [<unit numbers, best first>]}
Check with python that every id has one line, then reply with the count.
"""


def key_path(out: Path) -> Path:
    """Beside the reader's folder while they read; inside it once kept (bench/results/)."""
    inside = out / "key.json"
    return inside if inside.is_file() else out.parent / f"{out.name}-key.json"


def pool(out: Path, split: str, labels: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    items, key = [], {}
    for set_name in labels:
        for corpus, cases in S.gather(ROOT / "bench" / "questions" / set_name, split).items():
            missing = unlocated(cases)
            for n, case in enumerate(c for c in cases if c.item not in missing):
                passage = case.gold_passage
                assert passage is not None
                item_id = f"{set_name}/{corpus}/{n}"
                items.append(
                    {
                        "id": item_id,
                        "question": case.item.question,
                        "units": {str(i): u.text for i, u in enumerate(passage.units)},
                    }
                )
                weights = load_span_weights()
                key[item_id] = {
                    "lang": case.item.lang,
                    "spans": [[u.start, u.end] for u in passage.units],
                    "gold": [list(g) for g in passage.gold],
                    **{m: [[u.start, u.end] for u in marked(passage, m, weights)] for m in METHODS},
                }
    with (out / "items.jsonl").open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    (out / "INSTRUCTIONS.md").write_text(INSTRUCTIONS, encoding="utf-8")
    key_path(out).write_text(json.dumps(key), encoding="utf-8")
    print(f"{len(items)} items -> {out}; key in {key_path(out)}")


def score(out: Path) -> None:
    key = json.loads(key_path(out).read_text(encoding="utf-8"))
    picks = {}
    for line in (out / "picks.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            picks[d["id"]] = [int(u) for u in d["units"]]
    rows: dict[str, dict[str, list[float]]] = {}
    for item_id, k in key.items():
        if item_id not in picks:
            continue
        gold = [tuple(g) for g in k["gold"]]
        first = picks[item_id][:1]
        reader = float(bool(first) and overlaps(tuple(k["spans"][first[0]]), gold))
        for lang in (k["lang"], "all"):
            row = rows.setdefault(lang, {name: [] for name in ("reader", *METHODS)})
            row["reader"].append(reader)
            for m in METHODS:
                row[m].append(float(bool(k[m]) and overlaps(tuple(k[m][0]), gold)))
    print(f"{'lang':<5} {'n':>4} " + " ".join(f"{n:>10}" for n in ("reader", *METHODS)))
    for lang in ("en", "zh", "all"):
        if lang in rows:
            r = rows[lang]
            cells = " ".join(f"{sum(v) / len(v):>10.3f}" for v in r.values())
            print(f"{lang:<5} {len(r['reader']):>4} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["pool", "score"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--split", default="test", choices=["dev", "test", "all"])
    parser.add_argument("--labels", nargs="*", default=list(SETS))
    args = parser.parse_args()
    if args.step == "pool":
        pool(args.out, args.split, args.labels)
    else:
        score(args.out)


if __name__ == "__main__":
    main()
