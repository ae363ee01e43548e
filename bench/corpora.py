"""Retrieval quality across corpora: every labelled note collection, per language.

    python bench/corpora.py [--settings default,bm25,minilm,e5,hybrid] [--split dev]
                            [--corpus NAME ...] [--only DIR] [--save NAME]

The corpora are the bundled notes, tests/corpus_mixed, and every folder of
../shared/corpora/ (or $QA_SHARED_CORPORA) that has a questions.jsonl. A corpus's
questions are its own questions.jsonl plus bench/questions/<name>.jsonl when that exists
(questions written later, from the notes alone). Each question belongs to a fixed half
(qa.eval.evaluate.Labelled.split): choose on `--split dev`; read `--split test` only as the
protocol committed beforehand says (bench/results/session6-protocol.md).

Each corpus is indexed once with every channel (index/bench/<name>/); each named setting
(qa.presets, plus `hybrid`: the usual RRF(BM25, MiniLM) without glossary) is scored on
it with qa eval's own code, and question embeddings are cached across settings. Printed
per corpus: Hit@1 and Hit@5 by question language, cross-lingual rows (a question in the
other language than the notes that answer it), declines; then the macro-average over the
corpus x language cells and the worst cell.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from common import save  # noqa: E402

from qa.eval.evaluate import CUTOFF, Labelled, Outcome, Target, evaluate, load_labelled  # noqa: E402
from qa.eval.workbench import searcher_for  # noqa: E402
from qa.lang.text import detect_language  # noqa: E402
from qa.library import Library  # noqa: E402
from qa.presets import BUILTIN  # noqa: E402
from qa.retrieve.search import Searcher  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.store.chunks import Chunk  # noqa: E402
from qa.store.index import IndexIncompatible, check_compatible  # noqa: E402

SHARED = Path(os.environ.get("QA_SHARED_CORPORA", ROOT.parent / "shared" / "corpora"))
EXTRA = ROOT / "bench" / "questions"
# $QA_BENCH_INDEXES: another folder of bench indexes (a copy to rebuild, say).
INDEXES = Path(os.environ.get("QA_BENCH_INDEXES", ROOT / "index" / "bench"))

PRESETS: dict[str, Settings] = {
    **BUILTIN,
    "hybrid": replace(
        BUILTIN["bm25+minilm"],
        fusion="rrf",
        glossary=False,
        coverage_weight=0.0,
        dictionary=False,
        rerank="none",
    ),
}


@dataclass
class Corpus:
    name: str
    folder: Path
    questions: list[Labelled]

    @property
    def index_dir(self) -> Path:
        return INDEXES / self.name


def discover(names: Sequence[str] | None = None, only: Path | None = None) -> list[Corpus]:
    """Every labelled corpus there is here, in a fixed order. With ``only`` (a folder), a
    corpus's questions are just ``only/<name>.jsonl``, and corpora without one are left out."""
    folders = {"bundled": ROOT / "corpus", "mixed": ROOT / "tests" / "corpus_mixed"}
    if SHARED.is_dir():
        for folder in sorted(SHARED.iterdir()):
            if (folder / "questions.jsonl").is_file():
                folders[folder.name] = folder
    if names and (unknown := set(names) - set(folders)):
        where = SHARED if SHARED.is_dir() else f"{SHARED} (missing: set QA_SHARED_CORPORA)"
        raise SystemExit(f"no labelled corpus {', '.join(sorted(unknown))} here or in {where}")
    corpora = []
    for name, folder in folders.items():
        if names and name not in names:
            continue
        if only is not None:
            if (only / f"{name}.jsonl").is_file():
                corpora.append(Corpus(name, folder, load_labelled(only / f"{name}.jsonl")))
            continue
        items = load_labelled(folder / "questions.jsonl")
        extra = EXTRA / f"{name}.jsonl"
        if extra.is_file():
            items += load_labelled(extra)
        corpora.append(Corpus(name, folder, items))
    return corpora


class CachedEncoder:
    """An encoder whose question embeddings are remembered across settings."""

    def __init__(self, inner: Any, cache: dict[tuple[str, str], np.ndarray]):
        self.inner = inner
        self.cache = cache
        self.name, self.model_id = inner.name, inner.model_id
        self.multilingual, self.dim = inner.multilingual, inner.dim

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in texts if (self.model_id, t) not in self.cache]
        if missing:
            for t, v in zip(missing, self.inner.embed_queries(missing), strict=True):
                self.cache[(self.model_id, t)] = v
        return np.vstack([self.cache[(self.model_id, t)] for t in texts])

    def embed_passages(self, texts: Sequence[str], progress: Any = None) -> np.ndarray:
        return self.inner.embed_passages(texts, progress)

    def warm_up(self) -> None:
        self.inner.warm_up()


_CACHE: dict[tuple[str, str], np.ndarray] = {}
_ENCODERS: dict[str, CachedEncoder] = {}


def searcher(corpus: Corpus, settings: Settings) -> Searcher:
    """A searcher for ``settings`` on the corpus's index (a variant index when the main
    one lacks what the settings need, as qa eval does), with cached question embeddings."""
    lib = Library(corpus.folder, corpus.index_dir, Settings())
    if not lib.freshness().fresh or not _same_models(lib):
        print(f"  building {corpus.name}…", file=sys.stderr, flush=True)
        lib.build()
    found = searcher_for(lib, settings)
    for channel in settings.dense_channels:
        if channel not in _ENCODERS:
            enc = found.encoder(channel)
            enc.warm_up()
            _ENCODERS[channel] = CachedEncoder(enc, _CACHE)
        found._encoders[channel] = _ENCODERS[channel]  # type: ignore[assignment]
    return found


def _same_models(lib: Library) -> bool:
    """Whether the index was embedded by the models this qa runs (a new engine's
    model_id means building it again)."""
    manifest = lib.manifest()
    try:
        check_compatible(manifest, lib.settings, lib.pool) if manifest else None
    except IndexIncompatible:
        return False
    return True


def notes_language(item: Labelled, chunks: Sequence[Chunk]) -> str | None:
    """The language of the sections labelled as answering ``item`` (None: no such section)."""
    targets = [Target.parse(r) for r in item.relevant]
    texts = [
        c.text
        for c in chunks
        if c.answered and any(t.matches(loc) for t in targets for loc in c.locations)
    ]
    return detect_language(" ".join(texts)) if texts else None


def groups_of(outcome: Outcome, notes_lang: str | None) -> list[str]:
    """The table rows a question counts in."""
    lang = outcome.item.lang
    rows = [lang]
    if notes_lang is not None and notes_lang != lang:
        rows.append(f"{lang}>{notes_lang}")
    return rows


def score(
    corpora: Sequence[Corpus],
    names: Sequence[str],
    split: str,
    search_for: Callable[[Corpus, Settings], Callable[[str], Any]] | None = None,
) -> dict[str, Any]:
    """Per settings, per corpus: metrics by row, declines, and the labels matching nothing."""
    results: dict[str, Any] = {}
    for name in names:
        settings = PRESETS[name]
        per_corpus: dict[str, Any] = {}
        for corpus in corpora:
            items = [i for i in corpus.questions if split == "all" or i.split == split]
            s = searcher(corpus, settings)
            ask = (
                search_for(corpus, settings) if search_for else (lambda q, s=s: s.search(q, CUTOFF))
            )
            report = evaluate(items, ask)
            per_corpus[corpus.name] = _summary(report.outcomes, s.index.chunks)
        results[name] = per_corpus
    return results


def _summary(outcomes: Sequence[Outcome], chunks: Sequence[Chunk]) -> dict[str, Any]:
    rows: dict[str, list[Outcome]] = {}
    unmatched = []
    for o in outcomes:
        if not o.item.answerable:
            continue
        lang = notes_language(o.item, chunks)
        if lang is None:
            unmatched.append(o.item.question)
        for row in groups_of(o, lang):
            rows.setdefault(row, []).append(o)
    table = {
        row: {
            "n": len(members),
            **{
                m: float(np.mean([o.metrics[m] for o in members]))
                for m in ("hit@1", "hit@5", "mrr@10")
            },
        }
        for row, members in sorted(rows.items())
    }
    off = [o for o in outcomes if not o.item.answerable]
    on = [o for o in outcomes if o.item.answerable]
    declines = {
        "off_topic": len(off),
        "off_topic_declined": float(np.mean([o.declined for o in off])) if off else None,
        "false_declines": float(np.mean([o.declined for o in on])) if on else None,
    }
    return {"rows": table, "declines": declines, "unmatched_labels": unmatched}


def language_cells(per_corpus: dict[str, Any], metric: str = "hit@1") -> dict[str, float]:
    """``metric`` per corpus x question language (en, zh), keyed "corpus/lang"."""
    return {
        f"{c}/{lang}": r["rows"][lang][metric]
        for c, r in per_corpus.items()
        for lang in ("en", "zh")
        if lang in r["rows"]
    }


def macro(per_corpus: dict[str, Any], metric: str = "hit@1") -> tuple[float, str, float]:
    """Mean over the corpus x language cells (en, zh), and the worst cell."""
    cells = language_cells(per_corpus, metric)
    worst = min(cells, key=cells.__getitem__)
    return float(np.mean(list(cells.values()))), worst, cells[worst]


def table_rows(results: dict[str, Any]) -> Iterator[tuple[str, str, int, list[Any]]]:
    """Each corpus x row of the first setting: corpus, row, n, and every setting's metrics
    for that row (None where a setting has no such row)."""
    names = list(results)
    for c, first in results[names[0]].items():
        for row, r in first["rows"].items():
            yield c, row, r["n"], [results[n][c]["rows"].get(row) for n in names]


def print_tables(results: dict[str, Any]) -> None:
    names = list(results)
    corpora = list(next(iter(results.values())))
    print("\nHit@1 (Hit@5) per corpus and question language; n = answerable questions")
    header = f"{'corpus':20} {'row':7} {'n':>4}  " + "  ".join(f"{n[:13]:>13}" for n in names)
    print(header)
    for c, row, n_questions, metrics in table_rows(results):
        cells = [f"{r['hit@1']:.3f} ({r['hit@5']:.2f})" if r else " " * 13 for r in metrics]
        print(f"{c:20} {row:7} {n_questions:>4}  " + "  ".join(f"{x:>13}" for x in cells))
    print()
    for n in names:
        mean, worst, low = macro(results[n])
        mean5, _, _ = macro(results[n], "hit@5")
        print(f"{n:14} macro Hit@1 {mean:.3f}  Hit@5 {mean5:.3f}  worst {worst} {low:.3f}")
    print("\nDeclines (off-topic declined / answerable declined), per corpus")
    for n in names:
        cells = []
        for c in corpora:
            d = results[n][c]["declines"]
            off = "—" if d["off_topic_declined"] is None else f"{d['off_topic_declined']:.2f}"
            cells.append(f"{c} {off}/{d['false_declines']:.2f}")
        print(f"{n:14} " + "  ".join(cells))
    for c in corpora:
        missing = results[names[0]][c]["unmatched_labels"]
        if missing:
            example = missing[0]
            print(f"\n{c}: {len(missing)} questions whose labels match no section: {example!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="default,bm25,minilm,e5,hybrid")
    parser.add_argument("--split", choices=["dev", "test", "all"], default="dev")
    parser.add_argument("--corpus", nargs="*", help="only these corpora (default: all)")
    parser.add_argument(
        "--only",
        type=Path,
        metavar="DIR",
        help="score only the questions of DIR/<corpus>.jsonl (e.g. bench/questions/fresh)",
    )
    parser.add_argument("--save", metavar="NAME", help="write bench/results/corpora-NAME.json")
    args = parser.parse_args()
    names = args.settings.split(",")
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        parser.error(f"unknown settings {unknown}; choose from {', '.join(PRESETS)}")
    corpora = discover(args.corpus, args.only)
    results = score(corpora, names, args.split)
    print_tables(results)
    if args.save:
        path = save(f"corpora-{args.save}", {"split": args.split, "results": results})
        print(f"\nWrote {path}")


if __name__ == "__main__":
    main()
