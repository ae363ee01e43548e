"""Late chunking for the sentence units: each unit's vector pooled from its chunk's own pass.

    QA_UNIT_INDEXES=/tmp/qa-sentence-indexes-late python bench/late_units.py
        [--variants mean,first,center,half] [--out DIR] [--names a,b] [--save FILE]
    python bench/late_units.py --compare REFERENCE_DIR DIR [DIR ...]

A build embeds every sentence unit separately (qa.store.unit_vectors.embed_units), ~57 s
of the 164 s mixed build. Here each dense channel runs every answered chunk once, as the
build embeds it (qa.store.build.embed_text: heading path, two newlines, the text; MiniLM
reads Chinese rendered in English through the glossary and is cut at 256 tokens; e5 reads
"passage: " + the text in windows of 510 tokens, each with <s> and </s>), keeps the last
layer's token states, and mean-pools the tokens whose character span overlaps each unit
(the first MAX_UNIT_CHARS characters, what the unit's key reads). Variants (VARIANTS):
``mean`` normalises that and averages a unit's occurrences in several chunks, ``first``
keeps the first chunk's, ``center``/``half`` subtract all / half of the mean of the
chunk's token states before normalising.

Offsets: MiniLM's tokenizer gives each token its character span. e5's tokenizer
(qa.models.e5_onnx.Tokenizer) gives none, so ``e5_tokens`` repeats its normalisation and
Viterbi keeping each character's origin (same ids as the tokenizer's on all 2,404
answered chunks of the five dev corpora). When MiniLM's rendering changed the chunk (it
holds Chinese, in the body or the heading path: the rendering lower-cases, folds spaces
and adds glossary English), a unit is found in the rendering by its own rendering (the
glossary's English for the unit alone, then its match form), searching on from the
previous unit.

A unit with no token in the pass (past MiniLM's 256 tokens, past 4,000 characters, or not
found in the rendering) keeps its separately embedded vector from the reference copy
under $QA_UNIT_INDEXES; their count is printed (what a build would still embed).

The copies are written to --out/<name> (first variant) and --out-<variant>/<name> (the
others): copies of $QA_UNIT_INDEXES/<name> with the units.<channel>.npy rows replaced,
same keys, ready for ``QA_UNIT_INDEXES=<dir> bench/sentences.py --split dev``. Printed
per corpus and channel: units pooled / kept, the mean cosine of pooled to separate
vectors, the pass's tokens, and thread CPU seconds of the tokenizer with spans, the plain
tokenizer (timed only to tell the difference), the graph and the pooling.
``--compare`` scores the dev questions from each folder's copies with the shipped
weights and counts, against the first folder, the questions won and lost (sign test).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from qa.lang.glossary import Glossary, match_form  # noqa: E402
from qa.lang.units import MAX_UNIT_CHARS, split_units  # noqa: E402
from qa.models.e5_onnx import META  # noqa: E402
from qa.models.pool import POOL  # noqa: E402
from qa.store.build import MAX_EMBED_CHARS, embed_text  # noqa: E402
from qa.store.chunks import Chunk  # noqa: E402
from qa.store.index import Index  # noqa: E402
from qa.store.unit_vectors import UnitStore, read_store, unit_key  # noqa: E402
from qa.threads import cpu_threads  # noqa: E402

REFERENCE = Path(os.environ.get("QA_UNIT_INDEXES", "/tmp/qa-sentence-indexes"))
NAMES = ["bundled", "ds-interview-en", "ds-qa-en", "interview-notes-zh", "ds-qa-multi-en"]
Span = tuple[int, int]


def e5_tokens(tokenizer: Any, text: str) -> tuple[list[int], list[Span]]:
    """e5's content ids of ``text`` (as ``Tokenizer.content_ids``) and each token's
    character span in ``text`` ((-1, -1) for the leading word marker alone)."""
    text = text.split("\x00", 1)[0]
    chars: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(text):
        for d in tokenizer.normalise.get(c, c):
            if d == " " and chars and chars[-1] == " ":
                continue  # runs of spaces collapse to the first
            chars.append(d)
            origin.append(i)
    if not chars or chars[0] != " ":
        chars.insert(0, " ")
        origin.insert(0, -1)
    s = "".join(chars).replace(" ", META)
    path = tokenizer.best_path(s)  # the tokenizer's own Viterbi: the same ids
    ids: list[int] = []
    spans: list[Span] = []
    for (idx, start), end in zip(path, [*(b for _, b in path[1:]), len(s)], strict=True):
        known = [o for o in origin[start:end] if o >= 0]
        ids.append(idx)
        spans.append((min(known), max(known) + 1) if known else (-1, -1))
    return ids, spans


def e5_states(engine: Any, text: str, clock: dict[str, float]) -> tuple[np.ndarray, list[Span]]:
    """The last layer's states of ``text``'s tokens [tokens, hidden] (windows of 510, each
    with <s> and </s>, as E5Onnx.embed runs them; the specials left out) and their spans.
    ``clock`` gains the thread CPU seconds of the tokenizer with spans, of the plain
    tokenizer (what the build runs; timed here only to tell the difference) and of the
    graph."""
    t0 = time.thread_time()
    ids, spans = e5_tokens(engine.tokenizer, text)
    t1 = time.thread_time()
    engine.tokenizer.content_ids(text)
    t2 = time.thread_time()
    window = engine.max_pos - 2
    parts = []
    for start in range(0, max(len(ids), 1), window):
        part = [engine.bos, *ids[start : start + window], engine.eos]
        x = engine._embedded(part).astype(np.float32)
        parts.append(engine.session.run(None, {"x": x})[0][1:-1])
    clock["tokens_with_spans"] += t1 - t0
    clock["tokens_plain"] += t2 - t1
    clock["graph"] += time.thread_time() - t2
    return np.concatenate(parts), spans


def minilm_states(engine: Any, text: str, clock: dict[str, float]) -> tuple[np.ndarray, list[Span]]:
    """MiniLM's last-layer states of ``text`` (cut at 256 tokens) and each token's span
    ((-1, -1) for [CLS] and [SEP]). Its tokenizer gives spans anyway: no extra cost."""
    t0 = time.thread_time()
    enc = engine.tokenizer.encode(text)
    t1 = time.thread_time()
    feed = {"ids": np.asarray(enc.ids, np.int64), "types": np.zeros(len(enc.ids), np.int64)}
    states = engine.session.run(None, feed)[0]
    spans = [
        (-1, -1) if special else span
        for span, special in zip(enc.offsets, enc.special_tokens_mask, strict=True)
    ]
    clock["tokens_with_spans"] += t1 - t0
    clock["tokens_plain"] += t1 - t0
    clock["graph"] += time.thread_time() - t1
    return states, spans


def unit_spans(chunk: Chunk, shown: str, prefix: int, glossary: Glossary | None) -> list[Any]:
    """(unit text as keyed, span in ``shown`` or None) for the markable units of the chunk.
    ``shown`` is what the model reads after a prefix of ``prefix`` characters."""
    raw = chunk.embed_text()[:MAX_EMBED_CHARS]
    base = prefix + len(" > ".join(chunk.heading_path)) + 2  # Chunk.embed_text's layout
    out = []
    cursor = 0
    rendered = shown[prefix:] != raw
    for u in split_units(chunk.text):
        if not u.markable:
            continue
        text = u.text[:MAX_UNIT_CHARS]
        if not rendered:
            span: Span | None = (base + u.start, base + u.start + len(text))
        else:  # MiniLM's English rendering of a chunk holding Chinese
            span = None
            tries = [glossary.expand(text).english] if glossary else []
            tries.append(match_form(text))
            for t in tries:
                at = shown.find(t, cursor) if t else -1
                if at >= 0:
                    span = (at, at + len(t))
                    cursor = at + len(t)
                    break
        out.append((text, span))
    return out


def pool(states: np.ndarray, spans: list[Span], span: Span) -> np.ndarray | None:
    """The mean of the states of the tokens overlapping ``span`` (not normalised)."""
    rows = [
        t for t, (a, b) in enumerate(spans[: len(states)]) if a >= 0 and a < span[1] and b > span[0]
    ]
    return states[rows].mean(axis=0).astype(np.float64) if rows else None


def unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / max(float(np.linalg.norm(v)), 1e-12))


# How a unit's vector is made from its pooled states ``u`` and the mean ``m`` of all the
# chunk's token states (the passage's own vector, before normalising), and, for a unit
# in several chunks, how its occurrences are mixed.
VARIANTS = {
    "mean": "normalise(u), averaged over the chunks holding the unit, normalised",
    "first": "normalise(u) of the first chunk holding the unit",
    "center": "normalise(u - m), averaged over the chunks, normalised",
    "half": "normalise(u - m / 2), averaged over the chunks, normalised",
}


def vector_of(found: list[tuple[np.ndarray, np.ndarray]], variant: str) -> np.ndarray | None:
    if not found:
        return None
    if variant == "first":
        return unit(found[0][0])
    if variant in ("center", "half"):
        beta = 1.0 if variant == "center" else 0.5
        return unit(np.mean([unit(u - beta * m) for u, m in found], axis=0))
    return unit(np.mean([unit(u) for u, _ in found], axis=0))


def pooled_channel(index: Index, channel: str, glossary: Glossary | None) -> dict[str, Any]:
    """Every answered chunk's pass in ``channel``: each unit key's (pooled states, chunk
    mean) per chunk holding it, in chunk order (None where the unit had no token), the
    pass's tokens, and thread CPU seconds by step."""
    encoder = POOL.get(index.manifest.dense[channel].model)
    engine = encoder.engine()  # type: ignore[attr-defined]
    e5 = encoder.multilingual
    prefix = "passage: " if e5 else ""
    chunks = [c for c in index.chunks if c.answered]
    clocks: list[dict[str, float]] = []
    lock = threading.Lock()
    local = threading.local()
    tokens = []

    def one(chunk: Chunk) -> list[tuple[str, tuple[np.ndarray, np.ndarray] | None]]:
        if not hasattr(local, "clock"):
            local.clock = dict.fromkeys(("tokens_with_spans", "tokens_plain", "graph", "pool"), 0.0)
            with lock:
                clocks.append(local.clock)
        shown = prefix + embed_text(chunk, encoder, glossary if not e5 else None)
        if e5:
            states, spans = e5_states(engine, shown, local.clock)
        else:
            states, spans = minilm_states(engine, shown, local.clock)
        t0 = time.thread_time()
        whole = states.mean(axis=0).astype(np.float64)
        found = []
        for text, span in unit_spans(chunk, shown, len(prefix), glossary):
            u = pool(states, spans, span) if span else None
            found.append((text, (u, whole) if u is not None else None))
        local.clock["pool"] += time.thread_time() - t0
        with lock:
            tokens.append(len(states))
        return found

    by_key: dict[str, list[tuple[np.ndarray, np.ndarray] | None]] = {}
    with ThreadPoolExecutor(cpu_threads()) as ex:
        for found in ex.map(one, chunks):
            for text, v in found:
                by_key.setdefault(unit_key(text), []).append(v)
    cpu = {k: round(sum(c[k] for c in clocks), 3) for k in clocks[0]} if clocks else {}
    return {"by_key": by_key, "cpu_s": cpu, "tokens": sum(tokens), "chunks": len(chunks)}


def copy_folder(out: Path, variant: str) -> Path:
    """Where a variant's copies go: ``out`` for the first one asked, ``out-<variant>``
    for the others."""
    return out if variant == "" else Path(f"{out}-{variant}")


def build_copies(name: str, out: Path, variants: list[str]) -> dict[str, Any]:
    """The copies of corpus ``name`` (one per variant) with pooled unit vectors."""
    source = REFERENCE / name
    if not (source / "CURRENT").is_file():
        raise SystemExit(f"no reference copy at {source}: run bench/sentences.py first")
    gen = (source / "CURRENT").read_text().strip()
    index = Index.load(source)
    targets = {}
    for i, variant in enumerate(variants):
        target = copy_folder(out, "" if i == 0 else variant) / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
        targets[variant] = target
    report: dict[str, Any] = {}
    for channel, info in index.manifest.dense.items():
        if not (info.units_file and info.units_keys_file):
            raise SystemExit(f"{name}: no unit vectors in {source}")
        ref: UnitStore = read_store(source / gen, info.units_file, info.units_keys_file, info.dim)
        got = pooled_channel(index, channel, index.glossary)
        by_key = got["by_key"]
        separate = ref.vectors.astype(np.float32)
        occurrences = [[x for x in by_key.get(key, []) if x is not None] for key in ref.keys]
        row: dict[str, Any] = {
            "chunks": got["chunks"],
            "units": len(ref.keys),
            "pooled": sum(1 for o in occurrences if o),
            "kept_separate": sum(1 for o in occurrences if not o),
            "in_several_chunks": sum(1 for o in occurrences if len(o) > 1),
            "pass_tokens": got["tokens"],
            "cpu_s": got["cpu_s"],
        }
        for variant in variants:
            vectors = separate.copy()
            cosines = []
            for r, found in enumerate(occurrences):
                v = vector_of(found, variant)
                if v is not None:
                    cosines.append(float(v @ separate[r]))
                    vectors[r] = v
            path = targets[variant] / gen / info.units_file
            np.save(path, vectors.astype(np.float16), allow_pickle=False)
            row[f"cos_to_separate_{variant}"] = (
                round(float(np.mean(cosines)), 4) if cosines else None
            )
        report[channel] = row
        print(f"  {name} {channel}: {row}", file=sys.stderr, flush=True)
    return report


def per_question(folder: Path) -> dict[tuple[str, str], dict[str, float]]:
    """Each dev question's qa Hit@1 (gold passage, top hit) with the shipped weights,
    scored as bench/sentences.py scores it, from the copies under ``folder``."""
    import sentences

    from qa.eval.sentence_eval import marked, overlaps
    from qa.retrieve.answer_span import DEFAULT_WEIGHTS

    sentences.UNIT_INDEXES = folder
    out = {}
    for name, cases in sentences.gather(sentences.LABELS, "dev").items():
        for case in cases:
            row = {"lang": case.item.lang}
            for where in ("gold", "top"):
                passage = case.gold_passage if where == "gold" else case.top_passage
                if where == "gold" and (passage is None or not passage.gold):
                    continue  # unlocated: left out of the gold table, as there
                units = marked(passage, "qa", DEFAULT_WEIGHTS) if passage else []
                gold = passage.gold if passage else []
                row[where] = float(bool(units) and overlaps((units[0].start, units[0].end), gold))
            out[(name, case.item.question)] = row
    return out


def compare(folders: list[Path]) -> None:
    """Paired per-question comparison of each folder's copies with the first's: questions
    right in one and wrong in the other, and a two-sided sign test on those."""
    from math import comb

    base = per_question(folders[0])
    print(f"\npaired against {folders[0]} (qa's Hit@1, shipped weights, dev)")
    head = ("copies", "where", "lang", "n", "base", "this", "won", "lost")
    print("{:44} {:5} {:4} {:>4} {:>6} {:>6} {:>4} {:>4}  p".format(*head))
    for folder in folders[1:]:
        mine = per_question(folder)
        for where in ("gold", "top"):
            for lang in ("en", "zh", "all"):
                keys = [
                    k
                    for k, r in base.items()
                    if where in r and (lang == "all" or r["lang"] == lang) and where in mine[k]
                ]
                won = sum(1 for k in keys if mine[k][where] > base[k][where])
                lost = sum(1 for k in keys if mine[k][where] < base[k][where])
                n = won + lost
                p = (
                    min(1.0, 2 * sum(comb(n, i) for i in range(min(won, lost) + 1)) / 2**n)
                    if n
                    else 1.0
                )
                b = np.mean([base[k][where] for k in keys])
                t = np.mean([mine[k][where] for k in keys])
                cells = f"{len(keys):>4} {b:6.3f} {t:6.3f} {won:>4} {lost:>4}  {p:.2f}"
                print(f"{folder.name:44} {where:5} {lang:4} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variants",
        default="mean,first,center",
        help="comma-separated, of: " + "; ".join(f"{k}: {v}" for k, v in VARIANTS.items()),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("/tmp/qa-sentence-indexes-late-pooled"),
        help="the first variant's copies (the others' in OUT-<variant>)",
    )
    parser.add_argument("--names", default=",".join(NAMES))
    parser.add_argument("--save", type=Path, help="write the report as JSON here")
    parser.add_argument(
        "--compare",
        type=Path,
        nargs="+",
        metavar="FOLDER",
        help="instead: score each folder's copies per question against the first's",
    )
    args = parser.parse_args()
    if args.compare:
        compare(args.compare)
        return
    variants = args.variants.split(",")
    if unknown := [v for v in variants if v not in VARIANTS]:
        raise SystemExit(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    started = time.process_time()
    wall = time.perf_counter()
    report: dict[str, Any] = {
        "variants": {
            v: str(copy_folder(args.out, "" if i == 0 else v)) for i, v in enumerate(variants)
        },
        "reference": str(REFERENCE),
        "load_before": os.getloadavg(),
        "corpora": {},
    }
    for name in args.names.split(","):
        report["corpora"][name] = build_copies(name, args.out, variants)
    report["process_cpu_s"] = round(time.process_time() - started, 1)
    report["wall_s"] = round(time.perf_counter() - wall, 1)
    report["load_after"] = os.getloadavg()
    text = json.dumps(report, indent=1)
    print(text)
    if args.save:
        args.save.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
