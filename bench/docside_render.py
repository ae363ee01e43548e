"""Document-side translation, measured (session 10 research; session 11 shipped its
MiniLM half for sections written in Chinese, qa.lang.english_reading, which renders the
sections here): each section with Chinese in it rendered into English at build time,
scored with MiniLM and with BM25, on the dev halves.

    python bench/docside_render.py [--corpus NAME ...] [--examples 10] [--misses]

Before session 11 MiniLM read a Chinese section as ``Glossary.render_english`` gives it
(glossary terms in English, every other Chinese word dropped: qa.store.build.embed_text;
an index built since reads sections written in Chinese as below, so "today" is that). Here a
section is rendered with the glossary terms in English *and*, for every other jieba word,
CC-CEDICT's first gloss (words with more than 5 senses are dropped, as
qa.lang.code_mixed does with ambiguous English words); English and code stay as they are.
The variants, each scored with qa eval's own code (bench/corpora.py) on the dev split:

- ``minilm`` / ``minilm-R``: MiniLM alone, over today's vectors / over the rendered ones;
- ``bm25`` / ``bm25-R``: BM25 alone, today's (the question's translations, ``_bridge``) /
  the English question's own tokens over the rendered sections (English questions only);
- ``default``; ``def+R``: the default with MiniLM's vectors of the rendered sections
  (weight unchanged, 0.5); ``def+xM w``: the default plus a channel of MiniLM over the
  rendered sections, weight w in WEIGHTS (English questions over notes with Chinese in
  them); ``def+xB w``: the default plus BM25 over the rendered tokens, weight w (same).
  For each extra channel, the weight chosen leave-one-corpus-out is printed too.
- ``def B=R``: the default with its BM25 channel replaced by ``bm25-R`` for English
  questions (the document-side bridge instead of the question-side one; coverage is still
  read from today's index); ``def+R B=R``: both replacements.

``--misses``: only the English dev questions over Chinese notes that the default does not
answer first, with every channel's rank of the answer.

Corpora without a section containing Chinese are left out: every variant is the default
there by construction. Also printed: the CPU seconds (user+sys, all threads) of rendering
and embedding each corpus's Chinese sections, and example renderings. Never reads a test
half.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from corpora import (  # noqa: E402
    PRESETS,
    _summary,
    discover,
    macro,
    notes_language,
    searcher,
    table_rows,
)

import qa.retrieve.search as search_module  # noqa: E402
from qa.eval.evaluate import CUTOFF, Target, evaluate, matched_targets  # noqa: E402
from qa.lang.dictionary import Dictionary, load_dictionary  # noqa: E402
from qa.lang.english_reading import EnglishReader  # noqa: E402
from qa.lang.text import (  # noqa: E402
    BilingualTokenizer,
    detect_language,
    has_chinese,
)
from qa.retrieve.fusion import get_fusion  # noqa: E402
from qa.retrieve.search import Answer, ChannelResult, Searcher  # noqa: E402
from qa.store.build import MAX_EMBED_CHARS  # noqa: E402
from qa.store.lexical import LexicalIndex, build_bm25  # noqa: E402

WEIGHTS = (0.25, 0.5, 1.0)
ZH_ONLY = False  # --zh-sections: render only the sections written in Chinese


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class DocSide:
    """One corpus's rendered sections: MiniLM vectors (today's rows where a section has no
    Chinese) and a BM25 index of their tokens."""

    def __init__(self, s: Searcher, dictionary: Dictionary):
        chunks = s.index.chunks
        glossary, tokenizer = s.glossary, s.tokenizer
        assert glossary is not None
        self.rows = [
            i
            for i, c in enumerate(chunks)
            if has_chinese(c.embed_text()) and (not ZH_ONLY or detect_language(c.text) == "zh")
        ]
        start, wall = cpu(), time.perf_counter()
        # The rendering the build now gives English-only models (qa.lang.english_reading).
        render = EnglishReader(glossary, tokenizer.segment, dictionary)
        texts = [render(chunks[i].embed_text()[:MAX_EMBED_CHARS]) for i in self.rows]
        lexical = [render(c.lexical_text()) if has_chinese(c.text) else "" for c in chunks]
        self.render_cpu, self.render_wall = cpu() - start, time.perf_counter() - wall
        encoder = s.encoder("minilm").inner  # type: ignore[attr-defined]  # not the cache
        start, wall = cpu(), time.perf_counter()
        fresh = encoder.embed_passages([t[:MAX_EMBED_CHARS] for t in texts])
        self.embed_cpu, self.embed_wall = cpu() - start, time.perf_counter() - wall
        # What the build spends today on the same sections (their glossary rendering).
        start = cpu()
        encoder.embed_passages(
            [glossary.render_english(chunks[i].embed_text()[:MAX_EMBED_CHARS]) for i in self.rows]
        )
        self.today_cpu = cpu() - start
        self.matrix = np.array(s._matrix("minilm"), dtype=np.float32, copy=True)
        # Today's vector of a section is MiniLM over its glossary rendering: embedding that
        # again must give it back (a check that the new rows are comparable).
        probe = self.rows[:8]
        again = encoder.embed_passages(
            [glossary.render_english(chunks[i].embed_text()[:MAX_EMBED_CHARS]) for i in probe]
        )
        self.check = float(np.min(np.sum(again * self.matrix[probe], axis=1))) if probe else 1.0
        self.matrix[self.rows] = fresh
        self.texts = dict(zip(self.rows, texts, strict=True))
        start = cpu()
        tokens = [
            tokenizer.tokenize(lexical[i]) if lexical[i] else tokenizer.tokenize(c.lexical_text())
            for i, c in enumerate(chunks)
        ]
        with tempfile.TemporaryDirectory() as tmp:
            build_bm25(tokens, Path(tmp))
            self.bm25 = LexicalIndex.load(Path(tmp))
        self.bm25_cpu = cpu() - start

    def minilm(self, vector: np.ndarray, k: int) -> ChannelResult:
        every = self.matrix @ vector
        top = np.argsort(-every, kind="stable")[:k].astype(np.int64)
        return ChannelResult(top, every[top].astype(np.float64), vector, every=every)

    def lexical(self, question: str, tokenizer: BilingualTokenizer, k: int) -> ChannelResult:
        every = self.bm25.scores(dict.fromkeys(tokenizer.tokenize(question), 1.0))
        top = np.argsort(-every, kind="stable")[:k]
        top = top[every[top] > 0].astype(np.int64)
        return ChannelResult(top, every[top].astype(np.float64), every=every)


# What the patched searchers do now: set per variant.
MODE: dict[str, Any] = {"replace": False, "minilm_w": 0.0, "bm25_w": 0.0, "bm25_only": False}


def patch(s: Searcher, doc: DocSide) -> None:
    """Wrap ``s``'s channel step so MODE decides what the rendered sections add."""
    original = s._all_candidates

    def channels(use: tuple[str, ...], text: str, *args: Any) -> dict[str, ChannelResult]:
        raw = original(use, text, *args)
        k = len(s.index.chunks)
        english = not has_chinese(text)
        if MODE["replace"] and "minilm" in raw and raw["minilm"].vector is not None:
            raw["minilm"] = doc.minilm(raw["minilm"].vector, k)
        if english and MODE["bm25_only"] and "bm25" in raw:
            raw["bm25"] = doc.lexical(text, s.tokenizer, k)
        if english and MODE["minilm_w"] and "minilm" in raw:
            vector = raw["minilm"].vector
            assert vector is not None
            raw["docminilm"] = doc.minilm(vector, k)
        if english and MODE["bm25_w"]:
            raw["docbm25"] = doc.lexical(text, s.tokenizer, k)
        return raw

    s._all_candidates = channels  # type: ignore[method-assign,assignment]


def weighted_get_fusion(name: str) -> Callable[..., np.ndarray]:
    """The settings' fusion, with the extra channels at MODE's weights."""
    inner = get_fusion(name)

    def fuse(channels: Any, weights: Any, k: int) -> np.ndarray:
        extra = {"docminilm": MODE["minilm_w"], "docbm25": MODE["bm25_w"]}
        return inner(channels, {**weights, **extra}, k)

    return fuse


VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "minilm": ("minilm", {}),
    "minilm-R": ("minilm", {"replace": True}),
    "bm25": ("bm25", {}),
    "bm25-R": ("bm25", {"bm25_only": True}),
    "default": ("default", {}),
    "def+R": ("default", {"replace": True}),
    **{f"def+xM {w}": ("default", {"minilm_w": w}) for w in WEIGHTS},
    **{f"def+xB {w}": ("default", {"bm25_w": w}) for w in WEIGHTS},
    "def B=R": ("default", {"bm25_only": True}),
    "def+R B=R": ("default", {"replace": True, "bm25_only": True}),
}


def ask(s: Searcher, question: str) -> Answer:
    return s.search(question, CUTOFF, spans=False)


def run(corpora: Sequence[Any], dictionary: Dictionary, examples: int) -> dict[str, Any]:
    search_module.get_fusion = weighted_get_fusion
    results: dict[str, dict[str, Any]] = {v: {} for v in VARIANTS}
    shown: list[str] = []
    for corpus in corpora:
        searchers = {p: searcher(corpus, PRESETS[p]) for p in ("default", "minilm", "bm25")}
        doc = DocSide(searchers["default"], dictionary)
        if not doc.rows:
            print(f"{corpus.name}: no section with Chinese, left out", flush=True)
            continue
        for s in searchers.values():
            patch(s, doc)
        print(
            f"{corpus.name}: {len(doc.rows)} of {len(searchers['default'].index.chunks)} sections"
            f" rendered; render {doc.render_cpu:.1f} s CPU ({doc.render_wall:.1f} s wall),"
            f" MiniLM embed {doc.embed_cpu:.1f} s CPU ({doc.embed_wall:.1f} s wall;"
            f" today's rendering of them {doc.today_cpu:.1f} s CPU),"
            f" BM25 of the rendered tokens {doc.bm25_cpu:.1f} s CPU;"
            f" today's vectors re-embedded: min cosine {doc.check:.4f}",
            flush=True,
        )
        chunks = searchers["default"].index.chunks
        chinese = [i for i in doc.rows if detect_language(chunks[i].text) == "zh"]
        step = max(1, len(chinese) // max(1, examples // 2))
        for i in chinese[::step][: examples // 2]:
            original = " ".join(chunks[i].text.split())[:60]
            shown.append(f"- `{original}` →<br>`{doc.texts[i][:150]}`")
        items = [i for i in corpus.questions if i.split == "dev"]
        for name, (preset, mode) in VARIANTS.items():
            MODE.update({"replace": False, "minilm_w": 0.0, "bm25_w": 0.0, "bm25_only": False})
            MODE.update(mode)
            s = searchers[preset]
            report = evaluate(items, partial(ask, searchers[preset]))
            results[name][corpus.name] = _summary(report.outcomes, s.index.chunks)
            results[name][corpus.name]["first"] = [o.first_relevant for o in report.outcomes]
        print(f"  scored {len(items)} dev questions x {len(VARIANTS)} variants", flush=True)
    return {"results": results, "examples": shown}


def _moves(new: Sequence[int | None], old: Sequence[int | None]) -> str:
    """Questions answered first now but not before, and the other way round."""
    pairs = list(zip(new, old, strict=True))
    gained = sum(a == 1 and b != 1 for a, b in pairs)
    lost = sum(a != 1 and b == 1 for a, b in pairs)
    return f"+{gained}/-{lost}"


def print_markdown(results: dict[str, Any]) -> None:
    names = list(results)
    corpora = list(results[names[0]])
    print("\n| corpus | row | n | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for c, row, n_questions, metrics in table_rows(results):
        cells = [f"{r['hit@1']:.3f} / {r['hit@5']:.3f}" if r else "" for r in metrics]
        print(f"| {c} | {row} | {n_questions} | " + " | ".join(cells) + " |")
    print()
    for n in names:
        mean, worst, low = macro(results[n])
        mean5, _, _ = macro(results[n], "hit@5")
        base = "default" if n.startswith("def") else n.removesuffix("-R")
        moved = [
            f"{c} {_moves(results[n][c]['first'], results[base][c]['first'])}" for c in corpora
        ]
        print(
            f"- {n}: macro Hit@1 {mean:.3f}, Hit@5 {mean5:.3f}; worst {worst} {low:.3f};"
            f" questions gained/lost at Hit@1 vs {base}: {', '.join(moved)}"
        )


def misses(corpora: Sequence[Any], dictionary: Dictionary) -> None:
    """The English dev questions over Chinese notes whose answer the default does not rank
    first: where the answer and the first hit rank in every channel, the rendered ones
    (at weight 0.5 each) included."""
    search_module.get_fusion = weighted_get_fusion
    for corpus in corpora:
        s = searcher(corpus, PRESETS["default"])
        doc = DocSide(s, dictionary)
        if not doc.rows:
            continue
        patch(s, doc)
        for item in corpus.questions:
            if item.split != "dev" or not item.answerable or item.lang != "en":
                continue
            if notes_language(item, s.index.chunks) != "zh":
                continue
            targets = [Target.parse(r) for r in item.relevant]
            ranks = {}
            for name, w in (("default", 0.0), ("with both", 0.5)):
                MODE.update({"replace": False, "minilm_w": w, "bm25_w": w, "bm25_only": False})
                answer = s.search(item.question, 50, spans=False)
                found = [
                    n for n, h in enumerate(answer.hits, 1) if matched_targets(h.chunk, targets)
                ]
                ranks[name] = found[0] if found else None
            if ranks["default"] == 1:
                continue
            gold = answer.hits[ranks["with both"] - 1] if ranks["with both"] else None
            print(f"\n[{corpus.name}] {item.question!r}: answer ranks {ranks}")
            if gold is not None:
                print(f"   answer's channel ranks {gold.channel_ranks}")
            first = answer.hits[0]
            heading = " > ".join(first.chunk.heading_path)[:60]
            print(f"   first: {heading!r} {first.channel_ranks}")


def leave_one_out(results: dict[str, Any], family: str) -> list[str]:
    """For each corpus: the weight of ``family`` (0 = the default) that the other corpora's
    macro Hit@1 picks, and the held-out corpus's cells at that weight."""
    names = {0.0: "default", **{w: f"{family} {w}" for w in WEIGHTS}}
    lines = []
    for held in results["default"]:

        def others(name: str, held: str = held) -> float:
            rest = {c: r for c, r in results[name].items() if c != held}
            return macro(rest)[0]

        # Ties go to the smaller weight (the default first): no change without a reason.
        w = max(names, key=lambda w: (round(others(names[w]), 6), -w))
        rows = results[names[w]][held]["rows"]
        cells = ", ".join(f"{row} {r['hit@1']:.3f}" for row, r in rows.items())
        lines.append(f"- {family}, {held} held out: weight {w} chosen; {cells}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="*", help="only these corpora (default: all)")
    parser.add_argument("--examples", type=int, default=10)
    parser.add_argument(
        "--misses", action="store_true", help="only list the default's en>zh dev misses"
    )
    parser.add_argument(
        "--zh-sections", action="store_true", help="render only the sections written in Chinese"
    )
    args = parser.parse_args()
    global ZH_ONLY
    ZH_ONLY = args.zh_sections
    dictionary = load_dictionary()
    if args.misses:
        misses(discover(args.corpus), dictionary)
        return
    out = run(discover(args.corpus), dictionary, args.examples)
    print_markdown(out["results"])
    print()
    for family in ("def+xM", "def+xB"):
        print("\n".join(leave_one_out(out["results"], family)))
    print("\nExample renderings (section start → rendering, first 150 characters)")
    print("\n".join(out["examples"]))


if __name__ == "__main__":
    main()
