"""The sentences that answer: sentence Hit@1 and span precision per corpus and language.

    python bench/sentences.py [--split dev|test|all] [--labels DIR] [--fit] [--latency]

Reads every ``<corpus>.jsonl`` of labelled questions with gold answer sentences in
``--labels`` (default bench/questions/sentences/): ``bundled`` is the bundled notes, any
other name a folder of ../shared/corpora/. Each corpus is opened from a copy of its bench
index (index/bench/<name>/, or $QA_BENCH_INDEXES) under $QA_UNIT_INDEXES (default
/tmp/qa-sentence-indexes) to which the sentence-unit vectors a build now writes are added
once (qa.store.unit_vectors); the bench indexes are read, never rebuilt or written.
The copies hold every unit in every channel; by default (QA_UNIT_POLICY=lang) the
multilingual channel is then given only the Chinese units, as a build stores them
(qa.store.unit_vectors.channel_reads), QA_UNIT_POLICY=all keeps them all, and
QA_UNIT_POLICY=english gives the multilingual channel none (what a build that left e5's
sentence units out would store: they are most of its second phase). A question
belongs to a fixed half by a hash of its text (qa.eval.evaluate.Labelled.split); weights are
fitted on ``dev`` only (``--fit`` prints the best and the table with them).

Printed: per corpus x question language, on the gold passage and end to end on the top
hit, Hit@1 / precision of qa's choice and of two baselines (the first sentence, the
sentence with the most question terms). ``--latency`` times what finding the spans adds
to a warm question (every labelled question of the bundled notes, spans for the first
SPAN_HITS hits), in wall and CPU milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
from qa.lang.text import has_chinese  # noqa: E402
from qa.models.pool import POOL  # noqa: E402
from qa.retrieve.answer_span import DEFAULT_WEIGHTS, FEATURES, SPAN_HITS, SpanWeights, overlaps  # noqa: E402
from qa.retrieve.search import Searcher  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.store.index import Index  # noqa: E402
from qa.store.unit_vectors import (  # noqa: E402
    UnitStore,
    chunk_unit_texts,
    embed_units,
    unit_key,
    write_store,
)

SHARED = Path(os.environ.get("QA_SHARED_CORPORA", ROOT.parent / "shared" / "corpora"))
INDEXES = Path(os.environ.get("QA_BENCH_INDEXES", ROOT / "index" / "bench"))
# Copies of the bench indexes with sentence-unit vectors (with_unit_vectors).
UNIT_INDEXES = Path(os.environ.get("QA_UNIT_INDEXES", "/tmp/qa-sentence-indexes"))
LABELS = ROOT / "bench" / "questions" / "sentences"


def corpus_folder(name: str) -> Path:
    return ROOT / "corpus" if name == "bundled" else SHARED / name


def with_unit_vectors(name: str) -> Path:
    """A copy of the bench index ``name`` under UNIT_INDEXES with the sentence-unit vectors
    a build now writes (qa.store.unit_vectors), made once: the shared bench indexes are read,
    never rebuilt or written."""
    source = INDEXES / name
    if not (source / "CURRENT").is_file():
        raise SystemExit(f"no bench index at {source} (build it with bench/corpora.py first)")
    gen = (source / "CURRENT").read_text().strip()
    target = UNIT_INDEXES / name
    current = target / "CURRENT"
    if (
        current.is_file()
        and current.read_text().strip() == gen
        and all(d.units_file for d in Index.load(target).manifest.dense.values())
    ):
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copytree(source / gen, target / gen)
    (target / "CURRENT").write_text(gen + "\n")
    index = Index.load(target)
    glossary = index.glossary
    texts = [c.text for c in index.chunks if c.answered]
    manifest = index.manifest
    channels = dict(manifest.channels)
    started = time.process_time()
    for channel, info in manifest.dense.items():
        encoder = POOL.get(info.model)
        # Every unit in every channel: QA_UNIT_POLICY=lang leaves out what a build does not store.
        keys, vectors, _ = embed_units(encoder, texts, glossary, {}, beside_english=False)
        files = write_store(target / gen, channel, keys, vectors)
        channels[channel] = replace(
            info, units_file=files[0], units_keys_file=files[1], units=len(keys)
        )
    print(f"  {name}: unit vectors in {time.process_time() - started:.1f} CPU s", file=sys.stderr)
    manifest = replace(manifest, channels=channels)
    (target / gen / "manifest.json").write_text(
        json.dumps(manifest.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return target


POLICY = os.environ.get("QA_UNIT_POLICY", "lang")


def open_searcher(name: str) -> Searcher:
    index = Index.load(with_unit_vectors(name))
    if POLICY in ("lang", "english"):
        # What a build embedding each unit in its own language's channel only would store:
        # the multilingual channel keeps only the Chinese units (or, for "english", none).
        chinese = {
            unit_key(u) for u in chunk_unit_texts(c.text for c in index.chunks) if has_chinese(u)
        }
        for channel, store in list(index.unit_vectors.items()):
            if POOL.get(index.manifest.dense[channel].model).multilingual:
                keep = chinese if POLICY == "lang" else set()
                rows = [i for i, k in enumerate(store.keys) if k in keep]
                index.unit_vectors[channel] = UnitStore(
                    [store.keys[i] for i in rows], store.vectors[rows]
                )
    searcher = Searcher(index, Settings())
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


def fit(cases: list[SentenceCase]) -> SpanWeights:
    """A conditional logit over each gold passage's units (softmax of the linear score,
    the gold units' share of it maximised), L2-regularised with the strength that scores
    best by the objective; then the second-unit margin by the objective. Dev questions
    only."""
    best_w, best = DEFAULT_WEIGHTS, -1.0
    for l2, latent in [(x, y) for x in (0.1, 0.3, 1.0, 3.0) for y in (False, True)]:
        w = fit_logit(cases, l2, latent)
        value = objective(cases, w)
        print(f"  L2 {l2} latent {latent}: objective {value:.3f}", file=sys.stderr)
        if value > best + 1e-9:
            best, best_w = value, w
    for within in (0.05, 0.1, 0.2, 0.3):
        w = replace(best_w, second_within=within)
        value = objective(cases, w)
        if value > best + 1e-9:
            best, best_w = value, w
    print(f"fitted on the dev passages (objective {best:.3f}): {best_w}")
    return best_w


def fit_logit(cases: list[SentenceCase], l2: float, latent: bool = False) -> SpanWeights:
    """The conditional logit of ``fit`` at one L2 strength; ``latent``: the best-scoring
    gold unit is the one to choose (closer to Hit@1) rather than all gold units."""
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
            top = s[gold].max() - m if latent else np.log(np.exp(s[gold] - m).sum())
            total -= top - np.log(np.exp(s - m).sum())
        return total / len(data)

    result = minimize(loss, DEFAULT_WEIGHTS.vector(), method="L-BFGS-B")
    weights = {name: round(float(v), 3) for name, v in zip(FEATURES, result.x, strict=True)}
    return replace(DEFAULT_WEIGHTS, weights=weights, floor=-9.0, second_within=0.0)


def latency(rounds: int = 1, dense: bool = True) -> dict[str, Any]:
    """What the spans add to a warm question: finding them in the first SPAN_HITS hits,
    in wall time and in CPU time of the process (steadier on a shared
    machine); then the whole question, spans included."""
    searcher = open_searcher("bundled")
    items = load_labelled(ROOT / "corpus" / "questions.jsonl")
    for item in items[:20]:
        searcher.search(item.question, 5)
    added: dict[str, list[float]] = {"en": [], "zh": []}
    cpu: dict[str, list[float]] = {"en": [], "zh": []}
    whole: dict[str, list[float]] = {"en": [], "zh": []}  # the question, spans included
    for _ in range(rounds):
        for item in items:
            answer = searcher.search(item.question, 5)
            context = answer.span_context
            assert context is not None
            start, thread = time.perf_counter(), time.process_time()
            for hit in answer.hits[:SPAN_HITS]:
                context.spans(hit.chunk.text, dense)
            added[item.lang].append((time.perf_counter() - start) * 1000)
            cpu[item.lang].append((time.process_time() - thread) * 1000)
            start = time.perf_counter()
            searcher.search(item.question, 5)
            whole[item.lang].append((time.perf_counter() - start) * 1000)
    for table in (added, cpu, whole):
        table["all"] = table["en"] + table["zh"]
    return {
        "spans": {lang: percentiles(v) for lang, v in added.items() if v},
        "spans_cpu": {lang: percentiles(v) for lang, v in cpu.items() if v},
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
        out["load_average"] = os.getloadavg()
        out["added_ms"] = latency(dense=not args.no_dense)
        for what, table in out["added_ms"].items():
            for lang, p in table.items():
                print(f"{what:9} {lang:3} n={p['n']:4} p50 {p['p50']:.1f} ms p95 {p['p95']:.1f} ms")
        print(f"load average {out['load_average']}")
    else:
        weights = DEFAULT_WEIGHTS
        dev: dict[str, list[SentenceCase]] = {}
        if args.fit:
            dev = gather(args.labels, "dev")
            weights = fit([c for mine in dev.values() for c in mine])
            out["weights"] = {
                "weights": dict(weights.weights),
                "floor": weights.floor,
                "second_within": weights.second_within,
            }
        cases = dev if dev and args.split == "dev" else gather(args.labels, args.split)
        out["results"] = tables(cases, weights)
        print_tables(out["results"], args.split)
    if args.save:
        print(f"wrote {save(f'sentences-{args.save}', out)}")


if __name__ == "__main__":
    main()
