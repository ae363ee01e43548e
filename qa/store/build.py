"""Building an index: the notes read and chunked, BM25 tokens, each dense model's
vectors and sentence units, written as a new generation and published crash-safely
(in two phases when the later models have much to embed)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from qa.files import fsync_dir, write_atomic
from qa.lang.english_reading import EnglishReader
from qa.lang.glossary import (
    Concept,
    Glossary,
    keep_mined,
    mine_pairs,
    notes_concepts,
    notes_vetoes,
    shipped_concepts,
)
from qa.lang.text import TOKENIZER, BilingualTokenizer, detect_language
from qa.models.encoders import Encoder
from qa.models.pool import POOL, ModelPool
from qa.settings import LEXICAL, Settings
from qa.store.chunking import Holder, Section, chunk_note
from qa.store.chunks import Chunk, chunks_from_sections, vector_hash
from qa.store.index import (
    CURRENT,
    LEFT_OUT_GLOSSARY,
    MANIFEST,
    MINED_GLOSSARY,
    NOTES_GLOSSARY,
    OUTLINE,
    SECTIONS,
    BuildProgress,
    Index,
    IndexError_,
    build_lock,
    index_settings,
)
from qa.store.leases import held_generations
from qa.store.lexical import BM25_DIR, build_bm25
from qa.store.manifest import (
    BM25_TOKENS,
    DenseChannel,
    LexicalChannel,
    Manifest,
    NoteRecord,
)
from qa.store.notes import (
    CorpusError,
    NoteStat,
    Problem,
    read_note,
)
from qa.store.selection import select_notes
from qa.store.unit_vectors import embed_units, write_store

# What one chunk may cost an encoder: windows are far shorter (window_chars), this only
# bounds an index built with a huge window or text that could not be cut.
MAX_EMBED_CHARS = 4000

# A build publishes BM25 and the first dense model first when the others have this many
# texts to embed (a few seconds of e5): a first build of 1,800 chunks answers after
# ~10-25 s instead of after the whole build.
PHASE_MIN_TEXTS = 100


@dataclass
class BuildReport:
    """What a build did."""

    notes: int = 0
    chunks: int = 0  # sections (and windows) indexed, each once however often it appears
    places: int = 0  # where they appear: a section in two notes is one chunk, two places
    unanswered: int = 0
    # Since the previous index, by place (file, heading path, window):
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: dict[str, int] = field(default_factory=dict)  # texts new to each channel
    reused: dict[str, int] = field(default_factory=dict)
    sentences: dict[str, int] = field(default_factory=dict)  # sentence units new to each channel
    problems: list[Problem] = field(default_factory=list)
    ignored: int = 0  # notes left out by .qaignore, .gitignore, --include/--exclude
    seconds: float = 0.0
    generation: str = ""
    first_generation: str = ""  # of a phased build: the one published without the later models


def build_index(
    corpus: Path,
    index_dir: Path,
    settings: Settings,
    progress: BuildProgress | None = None,
    full: bool = False,
    wait: bool = True,
    pool: ModelPool = POOL,
    phased: bool | None = None,
    published: Callable[[str], None] | None = None,
) -> BuildReport:
    """Build or update the index of ``corpus`` in ``index_dir``.

    Unchanged chunks keep their vectors (matched by content hash); only new or edited
    text is embedded. ``full`` ignores the previous index. Models come from ``pool``.

    ``phased`` (default: when the dense models after the first have at least
    ``PHASE_MIN_TEXTS`` texts to embed): publish a generation with BM25 and the first
    model first, its manifest naming the other channels as ``filling``, and call
    ``published(generation)``; then embed the others and publish a second generation
    with everything. A build killed between the two leaves the first in use, and the
    next build fills in what it lacks (``check_freshness`` reports it as stale).
    """
    started = time.perf_counter()
    corpus = Path(corpus)
    index_dir = Path(index_dir)
    report = BuildReport()
    stats, problems, report.ignored = select_notes(corpus, settings)
    if not stats:
        left_out = f" ({report.ignored} left out by ignore rules)" if report.ignored else ""
        raise CorpusError(f"no Markdown notes (*.md) found in {corpus}{left_out}")
    with build_lock(index_dir, wait=wait):
        _remove_stale_temporaries(index_dir)
        sections: list[Section] = []
        holders: list[Holder] = []
        mined: list[Concept] = []
        notes_meta: dict[str, NoteRecord] = {}
        skipped: dict[str, NoteRecord] = {}
        for stat in stats:
            note, problem = read_note(corpus, stat)
            if problem:
                problems.append(problem)
            if note is None:
                skipped[stat.path] = _skipped_meta(stat, problem)
                continue
            try:
                own, held = chunk_note(note.text, note.path, settings.window_chars)
                sections += own
                holders += held
                if settings.glossary:
                    mined += mine_pairs(note.text, note.path)
            except Exception as err:  # one odd note must not stop the others
                problems.append(
                    Problem(
                        note.path,
                        f"cannot be read as Markdown ({type(err).__name__}: {err}); skipped",
                    )
                )
                skipped[note.path] = _skipped_meta(stat, problems[-1])
                continue
            notes_meta[note.path] = _note_meta(stat, note.digest)
            if progress:
                progress("reading notes", len(notes_meta), len(stats))
        report.problems = problems
        if not notes_meta:
            raise CorpusError(f"none of the {len(stats)} notes in {corpus} could be read")
        chunks = chunks_from_sections(sections)
        previous = None if full else _previous(index_dir)
        _count_changes(report, chunks, previous)

        gen = _generation_name()
        tmp = index_dir / f".{gen}.tmp"
        tmp.mkdir(parents=True)
        try:
            own_terms = notes_concepts(corpus) if settings.glossary else []
            known = [*shipped_concepts(), *own_terms]
            vetoes = notes_vetoes(corpus) if settings.glossary else []
            mined, not_taken = keep_mined(mined, known, vetoes)
            glossary = Glossary([*known, *mined]) if settings.glossary else None
            tokenizer = BilingualTokenizer(glossary.chinese_forms() if glossary else ())
            if settings.glossary:
                _write_records(tmp / MINED_GLOSSARY, map(_concept_record, mined))
                _write_records(tmp / NOTES_GLOSSARY, map(_concept_record, own_terms))
                _write_records(
                    tmp / LEFT_OUT_GLOSSARY,
                    (_concept_record(o.concept) | {"why": o.why} for o in not_taken),
                )
            lexical: dict[str, LexicalChannel] = {}
            dense: dict[str, DenseChannel] = {}  # by channel, in the settings' order
            if settings.lexical:
                segmenter = tokenizer.fingerprint
                tokens = _bm25_tokens(chunks, previous, tokenizer, tmp / BM25_TOKENS)
                build_bm25(tokens, tmp / BM25_DIR)
                lexical[LEXICAL] = LexicalChannel(BM25_DIR, TOKENIZER, segmenter, BM25_TOKENS)
            # What each dense channel can reuse is read now: publishing the first phase
            # removes the previous generation.
            encoders = [pool.get(model) for model in settings.models]
            english = any(not e.multilingual for e in encoders)  # qa.store.unit_vectors
            plans = [
                _plan(encoder, name, model, chunks, glossary, previous, english, tokenizer)
                for model, name, encoder in zip(
                    settings.models, settings.dense_channels, encoders, strict=True
                )
            ]
            first, later = plans[:1], plans[1:]
            if phased is None:
                phased = sum(len(plan.todo) for plan in later) >= PHASE_MIN_TEXTS
            two = bool(phased and later)
            for plan in first if two else plans:
                # In two phases the first model's sentence units wait for the second, so
                # that the first answers come as soon as its passages are embedded (the
                # answering sentences are found without the dense features meanwhile).
                dense[plan.name] = _embed_channel(
                    plan, chunks, tmp, report, progress, units=not two
                )
            with open(tmp / SECTIONS, "w", encoding="utf-8") as f:
                for chunk in chunks:
                    f.write(json.dumps(chunk.to_json(), ensure_ascii=False) + "\n")
            with open(tmp / OUTLINE, "w", encoding="utf-8") as f:
                for holder in holders:
                    f.write(json.dumps(holder.to_json(), ensure_ascii=False) + "\n")

            def manifest(filling: tuple[str, ...] = ()) -> Manifest:
                return Manifest(
                    corpus=str(corpus.resolve()),
                    index_settings=index_settings(settings, corpus),
                    chunks=len(chunks),
                    channels={**lexical, **dense},
                    notes=notes_meta,
                    skipped=skipped,
                    created=datetime.now(UTC).isoformat(timespec="seconds"),
                    problems=tuple(str(p) for p in problems),
                    filling=filling,
                )

            if two:
                # The first generation answers with BM25 and the first model while the
                # others are embedded; the second is the first's files plus theirs.
                report.first_generation = gen
                _publish(index_dir, tmp, gen, manifest(tuple(plan.name for plan in later)))
                if published is not None:
                    published(gen)
                gen = _generation_name()
                tmp = index_dir / f".{gen}.tmp"
                _link_files(index_dir / report.first_generation, tmp)
                for plan in first:
                    dense[plan.name] = _with_units(
                        plan, dense[plan.name], chunks, tmp, report, progress
                    )
                for plan in later:
                    dense[plan.name] = _embed_channel(plan, chunks, tmp, report, progress)
            _publish(index_dir, tmp, gen, manifest())
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    report.notes = len(notes_meta)
    report.chunks = len(chunks)
    report.places = sum(len(c.locations) for c in chunks)
    report.unanswered = sum(c.asks for c in chunks)  # as qa gaps counts them
    report.generation = gen
    report.seconds = time.perf_counter() - started
    return report


def _generation_name() -> str:
    return f"gen-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{os.getpid()}"


def _publish(index_dir: Path, tmp: Path, gen: str, manifest: Manifest) -> None:
    """Write the manifest, make ``tmp`` the generation ``gen`` and point CURRENT at it;
    then older generations go, unless a reader still holds one (qa.store.leases)."""
    _write_json(tmp / MANIFEST, manifest.to_json())
    _fsync_tree(tmp)
    os.rename(tmp, index_dir / gen)
    write_atomic(index_dir / CURRENT, gen + "\n")
    _collect_garbage(index_dir, keep={gen} | held_generations(index_dir))


def _link_files(source: Path, target: Path) -> None:
    """A new generation folder holding ``source``'s files (hard links where the file
    system allows, copies elsewhere) but not its manifest, which is written anew.
    Published generations are never written to, so sharing their files is safe."""
    for path in source.rglob("*"):
        rel = path.relative_to(source)
        if path.is_dir():
            (target / rel).mkdir(parents=True, exist_ok=True)
        elif rel != Path(MANIFEST):
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target / rel)
            except OSError:
                shutil.copy2(path, target / rel)


def _note_meta(stat: NoteStat, digest: str) -> NoteRecord:
    return NoteRecord(stat.size, stat.mtime_ns, sha256=digest)


def _skipped_meta(stat: NoteStat, problem: Problem | None) -> NoteRecord:
    reason = problem.message if problem else "skipped"
    return NoteRecord(stat.size, stat.mtime_ns, problem=reason)


def _previous(index_dir: Path) -> Index | None:
    """The current index, if it can be read; a damaged one is simply not reused."""
    try:
        return Index.load(index_dir)
    except (IndexError_, OSError, ValueError, KeyError):
        return None


def _concept_record(concept: Concept) -> dict[str, Any]:
    """A concept as a line of the index's glossary files (qa.store.index._concept reads it)."""
    record: dict[str, Any] = {"forms": list(concept.forms), "source": concept.source}
    if concept.kind != "term":
        record["kind"] = concept.kind
    return record


def _write_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def _bm25_tokens(
    chunks: list[Chunk], previous: Index | None, tokenizer: BilingualTokenizer, out: Path
) -> list[list[str]]:
    """BM25 tokens of every chunk, written to ``out``. Unchanged chunks keep the tokens
    the previous generation recorded, when its tokenizer had the same fingerprint:
    segmenting Chinese means loading jieba (~0.6 s), which a small edit should not pay."""
    known: dict[str, list[str]] = {}
    recorded = previous.manifest.lexical if previous else None
    if previous and recorded is not None and recorded.segmenter == tokenizer.fingerprint:
        with (
            contextlib.suppress(OSError, ValueError, KeyError, TypeError),
            open(previous.folder / recorded.tokens_file, encoding="utf-8") as f,
        ):
            known = {r["hash"]: r["tokens"] for r in map(json.loads, f)}
    texts = [c.lexical_text() for c in chunks]
    hashes = [vector_hash(t) for t in texts]
    cut = tokenizer.tokenize
    tokens = [known[h] if h in known else cut(t) for h, t in zip(hashes, texts, strict=True)]
    with open(out, "w", encoding="utf-8") as f:
        for h, toks in zip(hashes, tokens, strict=True):
            f.write(json.dumps({"hash": h, "tokens": toks}, ensure_ascii=False) + "\n")
    return tokens


def _count_changes(report: BuildReport, chunks: list[Chunk], previous: Index | None) -> None:
    def keyed(items: list[Chunk]) -> dict[tuple[str, tuple[str, ...], int], str]:
        return {(loc.file, loc.heading_path, c.part): c.id for c in items for loc in c.locations}

    new = keyed(chunks)
    old = keyed(previous.chunks) if previous else {}
    for key, cid in new.items():
        if key not in old:
            report.added += 1
        elif old[key] != cid:
            report.changed += 1
        else:
            report.unchanged += 1
    report.removed = sum(1 for key in old if key not in new)


@dataclass
class _Plan:
    """What embedding one dense channel takes: every chunk's text and its hash, the
    vectors the previous index has for those hashes, and the rows to embed."""

    encoder: Encoder
    name: str
    model: str
    texts: list[str]
    hashes: list[str]
    known: dict[str, np.ndarray]
    todo: list[int]
    # The sentence units: the glossary their English rendering needs, the previous
    # index's unit vectors by key, and whether an English-only model is built beside
    # this one (then a multilingual one embeds only the Chinese units).
    glossary: Glossary | None = None
    known_units: dict[str, np.ndarray] = field(default_factory=dict)
    beside_english: bool = False


def _plan(
    encoder: Encoder,
    name: str,
    model: str,
    chunks: list[Chunk],
    glossary: Glossary | None,
    previous: Index | None,
    beside_english: bool = False,
    tokenizer: BilingualTokenizer | None = None,
) -> _Plan:
    reader = english_reader(glossary, tokenizer) if not encoder.multilingual else None
    texts = [embed_text(c, encoder, glossary, reader) for c in chunks]
    hashes = [vector_hash(t) for t in texts]
    known: dict[str, np.ndarray] = {}
    if previous is not None and previous.model_id(name) == encoder.model_id:
        old = previous.vectors.get(name)
        old_hashes = previous.manifest.dense[name].hashes_file
        if old is not None and old.ntotal and old_hashes:
            matrix = old.reconstruct_n(0, old.ntotal)
            try:
                recorded = (previous.folder / old_hashes).read_text(encoding="ascii").split()
            except (OSError, ValueError):
                recorded = []  # damaged: everything is embedded again
            if len(recorded) == len(matrix):
                known.update(zip(recorded, matrix, strict=True))
    todo = sorted({h: i for i, h in enumerate(hashes) if h not in known}.values())
    known_units: dict[str, np.ndarray] = {}
    if previous is not None and previous.model_id(name) == encoder.model_id:
        old_units = previous.unit_vectors.get(name)
        known_units = old_units.known() if old_units is not None else {}
    return _Plan(
        encoder, name, model, texts, hashes, known, todo, glossary, known_units, beside_english
    )


def _embed_channel(
    plan: _Plan,
    chunks: list[Chunk],
    tmp: Path,
    report: BuildReport,
    progress: BuildProgress | None,
    units: bool = True,
) -> DenseChannel:
    """Embed what ``plan`` says (reusing what it knows) and write the channel's vectors;
    with ``units``, its sentence units too (see ``_with_units``)."""
    import faiss

    from qa.threads import configure_faiss

    configure_faiss()
    encoder, name, model, texts, hashes, known, todo = (
        plan.encoder,
        plan.name,
        plan.model,
        plan.texts,
        plan.hashes,
        plan.known,
        plan.todo,
    )
    stage = f"embedding ({name})"
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(stage, done, len(todo))

    if progress:
        progress(stage, 0, len(todo))
    fresh = encoder.embed_passages([texts[i] for i in todo], progress=advance) if todo else None
    if fresh is not None:
        for i, row in zip(todo, fresh, strict=True):
            known[hashes[i]] = row
    dim = encoder.dim if fresh is None and not known else len(next(iter(known.values())))
    matrix = (
        np.vstack([known[h] for h in hashes]).astype(np.float32)
        if hashes
        else (np.zeros((0, dim), dtype=np.float32))
    )
    index = faiss.IndexFlatIP(dim)
    index.add(matrix)
    file = f"vectors.{name}.faiss"
    faiss.write_index(index, str(tmp / file))
    # The hash of the text behind each vector, so the next build can reuse it.
    hashes_file = f"vectors.{name}.hashes"
    (tmp / hashes_file).write_text("\n".join(hashes) + "\n")
    report.embedded[name] = len(todo)
    report.reused[name] = len(chunks) - len(todo)
    answered = np.array([c.answered for c in chunks], dtype=bool)
    centroid = matrix[answered].mean(axis=0) if answered.any() else np.zeros(dim)

    channel = DenseChannel(
        model,
        encoder.model_id,
        dim,
        file,
        hashes_file,
        count=len(chunks),
        centroid=tuple(round(float(x), 6) for x in centroid),
    )
    return _with_units(plan, channel, chunks, tmp, report, progress) if units else channel


def _with_units(
    plan: _Plan,
    channel: DenseChannel,
    chunks: list[Chunk],
    tmp: Path,
    report: BuildReport,
    progress: BuildProgress | None,
) -> DenseChannel:
    """``channel`` with the sentence units of the answered chunks, embedded once
    (qa.store.unit_vectors), reusing the previous index's."""
    name = plan.name

    def sentences(done: int, total: int) -> None:
        if progress:
            progress(f"embedding sentences ({name})", done, total)

    answered_texts = [c.text for c in chunks if c.answered]
    keys, unit_matrix, fresh_units = embed_units(
        plan.encoder,
        answered_texts,
        plan.glossary,
        plan.known_units,
        plan.beside_english,
        sentences,
    )
    units_file, units_keys = write_store(tmp, name, keys, unit_matrix)
    report.sentences[name] = fresh_units
    return replace(channel, units_file=units_file, units_keys_file=units_keys, units=len(keys))


def english_reader(
    glossary: Glossary | None, tokenizer: BilingualTokenizer | None = None
) -> EnglishReader | None:
    """How an English-only model reads the Chinese sections of an index with ``glossary``;
    ``tokenizer``: the index's (the one the glossary's Chinese forms teach), made when
    not given."""
    if glossary is None:
        return None
    tokenizer = tokenizer or BilingualTokenizer(glossary.chinese_forms())
    return EnglishReader(glossary, tokenizer.segment)


def embed_text(
    chunk: Chunk,
    encoder: Encoder,
    glossary: Glossary | None,
    reader: EnglishReader | None = None,
) -> str:
    """What an encoder reads for a chunk: English-only models get Chinese rendered in
    English, a section written in Chinese word by word (``reader``, the glossary and
    CC-CEDICT: qa.lang.english_reading), any other text by the glossary's terms.

    At most MAX_EMBED_CHARS: the models read 256 or 512 tokens of it anyway, and a chunk
    that could not be cut must not cost minutes.
    """
    text = chunk.embed_text()[:MAX_EMBED_CHARS]
    if glossary is None or encoder.multilingual:
        return text
    if reader is not None and detect_language(chunk.text) == "zh":
        return reader(text)[:MAX_EMBED_CHARS]
    return glossary.render_english(text)[:MAX_EMBED_CHARS]


def _remove_stale_temporaries(index_dir: Path) -> None:
    """Folders of builds that were killed (we hold the lock, so none is running)."""
    for path in index_dir.iterdir():
        if path.name.startswith(".gen-") and path.name.endswith(".tmp"):
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(f".{CURRENT}.") and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)


def _collect_garbage(index_dir: Path, keep: set[str]) -> None:
    """Remove older generations and leftovers of killed builds (we hold the lock)."""
    for path in index_dir.iterdir():
        name = path.name
        stale_tmp = name.startswith(".gen-") and name.endswith(".tmp")
        if (name.startswith("gen-") and name not in keep) or stale_tmp:
            shutil.rmtree(path, ignore_errors=True)
        elif name.startswith(f".{CURRENT}.") and name.endswith(".tmp"):
            path.unlink(missing_ok=True)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    for path in [*folder.rglob("*"), folder]:
        if path.is_dir():
            fsync_dir(path)
