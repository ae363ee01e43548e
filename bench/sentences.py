"""The sentences that answer: sentence Hit@1 and span precision per corpus and language.

    python bench/sentences.py [--split dev|test|all] [--labels DIR] [--fit [--write]] [--latency]

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
belongs to a fixed half by a hash of its text (qa.eval.evaluate.Labelled.split), or to the
half its line pins. Weights are fitted on ``dev`` only (qa.eval.span_fit): ``--fit`` prints
the gold-passage Hit@1 per corpus x language of weights fitted without that corpus (nested
leave-one-corpus-out, the honest estimate), in sample and of the baselines, then the tables
with the weights fitted on every dev corpus; ``--write`` writes those to qa/data/spans.json,
the weights qa uses.

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

from qa.eval import span_fit  # noqa: E402
from qa.eval.evaluate import Labelled, load_labelled  # noqa: E402
from qa.eval.sentence_eval import METHODS, SentenceCase, collect, score, unlocated  # noqa: E402
from qa.eval.span_fit import Group  # noqa: E402
from qa.lang.text import has_chinese  # noqa: E402
from qa.models.pool import POOL  # noqa: E402
from qa.retrieve.answer_span import (  # noqa: E402
    DEFAULT_WEIGHTS,
    FEATURES,
    SPAN_HITS,
    WEIGHTS_FILE,
    SpanWeights,
)
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


def groups_of(cases: dict[str, list[SentenceCase]]) -> list[Group]:
    """The located gold passages of every corpus, for qa.eval.span_fit."""
    return [
        Group(
            name,
            c.item.lang,
            c.gold_passage.features,
            [(u.start, u.end) for u in c.gold_passage.units],
            c.gold_passage.gold,
            c.gold_passage.on_topic,
        )
        for name, mine in cases.items()
        for c in mine
        if c.gold_passage is not None and c.gold_passage.gold
    ]


def loco_table(groups: list[Group], weights: SpanWeights) -> dict[str, Any]:
    """Gold-passage Hit@1 per corpus x language: nested leave-one-corpus-out (the weights
    that scored a corpus were fitted without it), in sample with ``weights``, and the two
    baselines."""
    held_out, l2s = span_fit.loco(groups)
    fitted = span_fit.hits(groups, weights)
    first = np.array([float(g.gold[0]) for g in groups])
    coverage = FEATURES.index("coverage")
    most = np.array([float(g.gold[int(np.argmax(g.features[:, coverage]))]) for g in groups])
    table: dict[str, Any] = {}
    for name in [*sorted({g.corpus for g in groups}), "ALL"]:
        for lang in ("en", "zh"):
            rows = [i for i, g in enumerate(groups) if g.lang == lang and name in (g.corpus, "ALL")]
            if rows:
                table[f"{name}/{lang}"] = {
                    "n": len(rows),
                    "loco": float(held_out[rows].mean()),
                    "in_sample": float(fitted[rows].mean()),
                    "first": float(first[rows].mean()),
                    "most_terms": float(most[rows].mean()),
                    "l2": l2s.get(name),
                }
    return table


def print_loco(table: dict[str, Any]) -> None:
    print("\ngold passage Hit@1: leave-one-corpus-out (nested), in sample, baselines")
    print(f"{'corpus':20} {'lang':4} {'n':>4}  {'LOCO':>6} {'fitted':>6} {'first':>6} {'terms':>6}")
    for key, r in table.items():
        name, lang = key.rsplit("/", 1)
        print(
            f"{name:20} {lang:4} {r['n']:>4}  {r['loco']:6.3f} {r['in_sample']:6.3f}"
            f" {r['first']:6.3f} {r['most_terms']:6.3f}"
        )


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
                context.spans(hit.chunk.text, dense, " ".join(hit.chunk.heading_path[-1:]))
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
    parser.add_argument(
        "--write", action="store_true", help="with --fit: write the weights to qa/data/spans.json"
    )
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
            groups = groups_of(dev)
            weights, l2 = span_fit.fit(groups)
            out["loco"] = loco_table(groups, weights)
            print_loco(out["loco"])
            fitted = {
                "by": "bench/sentences.py --fit --write",
                "questions": len(groups),
                "l2": l2,
                "loco_hit@1": {k: round(v["loco"], 3) for k, v in out["loco"].items()},
            }
            out["weights"] = weights.to_json(fitted)
            print(f"fitted on {len(groups)} dev passages (L2 {l2}): {weights}")
            if args.write:
                text = json.dumps(out["weights"], indent=1, ensure_ascii=False) + "\n"
                WEIGHTS_FILE.write_text(text, encoding="utf-8")
                print(f"wrote {WEIGHTS_FILE}")
        elif args.write:
            raise SystemExit("--write writes what --fit fits: give both")
        cases = dev if dev and args.split == "dev" else gather(args.labels, args.split)
        out["results"] = tables(cases, weights)
        print_tables(out["results"], args.split)
    if args.save:
        print(f"wrote {save(f'sentences-{args.save}', out)}")


if __name__ == "__main__":
    main()
