"""The sentences that answer: sentence Hit@1 and span precision per corpus and language.

    python bench/sentences.py [--split dev|test|all] [--labels DIR] [--fit] [--latency]

Reads every ``<corpus>.jsonl`` of labelled questions with gold answer sentences in
``--labels`` (default bench/questions/sentences/): ``bundled`` is the bundled notes, any
other name a folder of ../shared/corpora/. Each corpus is opened from its bench index
(index/bench/<name>/, or $QA_BENCH_INDEXES), read-only; nothing is rebuilt. A question
belongs to a fixed half by a hash of its text (qa.eval.evaluate.Labelled.split); weights are
fitted on ``dev`` only (``--fit`` prints the best and the table with them).

Printed: per corpus x question language, on the gold passage and end to end on the top
hit, Hit@1 / precision of qa's choice and of two baselines (the first sentence, the
sentence with the most question terms). ``--latency`` times what finding the spans adds
to a warm question (every labelled question of the bundled notes, spans for the first
SPAN_HITS hits, no unit embedding cached from an earlier question).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from common import percentiles, save  # noqa: E402

from qa.eval.evaluate import Labelled, load_labelled  # noqa: E402
from qa.eval.sentence_eval import METHODS, SentenceCase, collect, score, unlocated  # noqa: E402
from qa.retrieve.answer_span import (  # noqa: E402
    DEFAULT_WEIGHTS,
    DENSE_HITS,
    FEATURES,
    SPAN_HITS,
    SpanWeights,
    overlaps,
)
from qa.retrieve.search import Searcher  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.store.index import Index  # noqa: E402

SHARED = Path(os.environ.get("QA_SHARED_CORPORA", ROOT.parent / "shared" / "corpora"))
INDEXES = Path(os.environ.get("QA_BENCH_INDEXES", ROOT / "index" / "bench"))
LABELS = ROOT / "bench" / "questions" / "sentences"


def corpus_folder(name: str) -> Path:
    return ROOT / "corpus" if name == "bundled" else SHARED / name


def open_searcher(name: str) -> Searcher:
    index = INDEXES / name
    if not (index / "CURRENT").is_file():
        raise SystemExit(f"no bench index at {index} (build it with bench/corpora.py first)")
    searcher = Searcher(Index.load(index), Settings())
    searcher.warm_up()
    return searcher


def load_sets(labels: Path, split: str) -> dict[str, list[Labelled]]:
    sets = {}
    for path in sorted(labels.glob("*.jsonl")):
        items = [i for i in load_labelled(path) if i.answer]
        sets[path.stem] = [i for i in items if split == "all" or i.split == split]
    return sets


def gather(labels: Path, split: str) -> dict[str, list[SentenceCase]]:
    out = {}
    for name, items in load_sets(labels, split).items():
        if not items:
            continue
        print(f"  {name}: {len(items)} questions…", file=sys.stderr, flush=True)
        out[name] = collect(open_searcher(name), items)
    return out


def tables(cases: dict[str, list[SentenceCase]], weights: SpanWeights) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, mine in cases.items():
        missing = unlocated(mine)
        located = [c for c in mine if c.item not in missing]
        result[name] = {
            "gold": score(located, weights, "gold"),
            "top": score(mine, weights, "top"),
            "unlocated": [i.question for i in missing],
        }
    every = [c for mine in cases.values() for c in mine]
    missing = unlocated(every)
    result["ALL"] = {
        "gold": score([c for c in every if c.item not in missing], weights, "gold"),
        "top": score(every, weights, "top"),
        "unlocated": [],
    }
    return result


def print_tables(result: dict[str, Any], split: str) -> None:
    print(f"\nsplit {split}: Hit@1 / span precision (share marked nothing for qa)")
    head = "  ".join(f"{m:>13}" for m in METHODS)
    for where, title in (("gold", "on the gold passage"), ("top", "end to end, top hit")):
        print(f"\n{title}\n{'corpus':20} {'lang':4} {'n':>4}  {head}   none")
        for name, r in result.items():
            for lang in ("en", "zh"):
                row = r[where].get(lang)
                if not row:
                    continue
                cells = "  ".join(
                    f"{row[m]['hit@1']:.3f} / {row[m]['precision']:.2f}" for m in METHODS
                )
                print(f"{name:20} {lang:4} {row['qa']['n']:>4}  {cells}   {row['qa']['none']:.2f}")
    for name, r in result.items():
        if r["unlocated"]:
            print(f"{name}: {len(r['unlocated'])} gold sentences not found: {r['unlocated'][0]!r}")


def objective(cases: list[SentenceCase], weights: SpanWeights) -> float:
    """Mean over languages of (gold-passage Hit@1 + 0.25 precision)."""
    t = score([c for c in cases if c.gold_passage and c.gold_passage.gold], weights, "gold")
    return float(
        np.mean(
            [
                t[lang]["qa"]["hit@1"] + 0.25 * t[lang]["qa"]["precision"]
                for lang in t
                if lang != "all"
            ]
        )
    )


def fit(cases: list[SentenceCase], l2: float = 0.5) -> SpanWeights:
    """A conditional logit over each gold passage's units (softmax of the linear score,
    the gold units' share of it maximised), L2-regularised; then the floor and the
    second-unit margin by the objective. Dev questions only."""
    from scipy.optimize import minimize

    usable = [c.gold_passage for c in cases if c.gold_passage and c.gold_passage.gold]
    data = []
    for p in usable:
        gold = np.array([overlaps((u.start, u.end), p.gold) for u in p.units])
        if gold.any() and not gold.all():
            data.append((p.features, gold))

    def loss(w: np.ndarray) -> float:
        total = l2 * float(w @ w)
        for x, gold in data:
            s = x @ w
            m = s.max()
            total -= np.log(np.exp(s[gold] - m).sum()) - np.log(np.exp(s - m).sum())
        return total / len(data)

    result = minimize(loss, DEFAULT_WEIGHTS.vector(), method="L-BFGS-B")
    weights = {name: round(float(v), 3) for name, v in zip(FEATURES, result.x, strict=True)}
    best_w = replace(DEFAULT_WEIGHTS, weights=weights, floor=-9.0, second_within=0.0)
    best = objective(cases, best_w)
    for within in (0.0, 0.05, 0.1, 0.2, 0.3):
        w = replace(best_w, second_within=within)
        value = objective(cases, w)
        if value > best + 1e-9:
            best, best_w = value, w
    print(f"fitted on {len(data)} dev passages (objective {best:.3f}): {best_w}")
    return best_w


def latency(rounds: int = 1, dense: bool = True) -> dict[str, Any]:
    """What the spans add to a warm question: finding them in the first SPAN_HITS hits,
    with no unit vector cached from an earlier question (the worst case)."""
    searcher = open_searcher("bundled")
    items = load_labelled(ROOT / "corpus" / "questions.jsonl")
    for item in items[:20]:
        searcher.search(item.question, 5)
    added: dict[str, list[float]] = {"en": [], "zh": []}
    whole: dict[str, list[float]] = {"en": [], "zh": []}  # the question, spans included
    for _ in range(rounds):
        for item in items:
            answer = searcher.search(item.question, 5)
            context = answer.span_context
            assert context is not None
            searcher.forget_unit_vectors()
            start = time.perf_counter()
            for n, hit in enumerate(answer.hits[:SPAN_HITS]):
                context.spans(hit.chunk.text, dense and n < DENSE_HITS)
            added[item.lang].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            searcher.search(item.question, 5)
            whole[item.lang].append((time.perf_counter() - start) * 1000)
    added["all"] = added["en"] + added["zh"]
    whole["all"] = whole["en"] + whole["zh"]
    return {
        "spans": {lang: percentiles(v) for lang, v in added.items() if v},
        "question": {lang: percentiles(v) for lang, v in whole.items() if v},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["dev", "test", "all"], default="dev")
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--fit", action="store_true", help="fit the weights on dev first")
    parser.add_argument("--latency", action="store_true", help="time the span step")
    parser.add_argument(
        "--no-dense", action="store_true", help="time the spans without the dense channels"
    )
    parser.add_argument("--save", metavar="NAME", help="write bench/results/sentences-NAME.json")
    args = parser.parse_args()
    out: dict[str, Any] = {"split": args.split}
    if args.latency:
        out["dense"] = not args.no_dense
        out["added_ms"] = latency(dense=not args.no_dense)
        for what, table in out["added_ms"].items():
            for lang, p in table.items():
                print(f"{what:8} {lang:3} n={p['n']:4} p50 {p['p50']:.1f} ms p95 {p['p95']:.1f} ms")
    else:
        weights = DEFAULT_WEIGHTS
        if args.fit:
            dev = gather(args.labels, "dev")
            weights = fit([c for mine in dev.values() for c in mine])
            out["weights"] = {
                "weights": dict(weights.weights),
                "floor": weights.floor,
                "second_within": weights.second_within,
            }
        cases = gather(args.labels, args.split)
        out["results"] = tables(cases, weights)
        print_tables(out["results"], args.split)
    if args.save:
        print(f"wrote {save(f'sentences-{args.save}', out)}")


if __name__ == "__main__":
    main()
