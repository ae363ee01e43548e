"""The index on disk: chunks, their vectors per channel, BM25, and a manifest.

Layout of an index folder::

    CURRENT                 name of the generation in use (replaced atomically)
    .lock                   held by the one build that may run at a time
    gen-<time>-<pid>/
        manifest.json       format version, settings, models, note hashes, counts
        sections.jsonl      one chunk per line, with every place it appears
        vectors.<channel>.faiss
        units.<channel>.npy     sentence-unit vectors, float16 (qa.store.unit_vectors), and
        units.<channel>.keys    the key of each row
        bm25/               bm25s arrays (.npy, allow_pickle=False) and JSON

A build writes a new generation beside the current one and only then points CURRENT
at it, so a build killed at any moment leaves the previous index in use. Older
generations are then removed, except those a reader is still reading (``.readers/``
holds their leases, qa.store.leases): a query that opened one still completes, and the
folder holds one generation, not two, once nobody reads the old one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from qa.lang.glossary import (
    Concept,
    Glossary,
    load_glossary,
    mine_pairs,
    notes_concepts,
    shipped_concepts,
)
from qa.lang.text import TOKENIZER, BilingualTokenizer, tokens_of_this_version
from qa.models.encoders import Encoder
from qa.models.pool import POOL, ModelPool
from qa.settings import LEXICAL, Settings
from qa.store.chunking import CHUNKER, Holder, Section, chunk_note
from qa.store.leases import held_generations, reader_lease
from qa.store.lexical import BM25_DIR, LexicalIndex, build_bm25
from qa.store.manifest import (
    BM25_TOKENS,
    FORMAT,
    FORMAT_VERSION,
    DenseChannel,
    LexicalChannel,
    Manifest,
    NoteRecord,
    manifest_problem,
)
from qa.store.notes import (
    CorpusError,
    NoteStat,
    Problem,
    is_relative_note_path,
    read_note,
)
from qa.store.selection import select_notes, selection_fingerprint
from qa.store.unit_vectors import UnitStore, embed_units, read_store, write_store

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
SECTIONS = "sections.jsonl"
OUTLINE = "outline.jsonl"  # headings that only hold sub-headings, for navigation
MINED_GLOSSARY = "glossary.mined.jsonl"
NOTES_GLOSSARY = "glossary.notes.jsonl"  # the notes folder's glossary.tsv, as built
SEGMENTER_CHANGED = "the word segmenter changed since the index was built"
# What one chunk may cost an encoder: windows are far shorter (window_chars), this only
# bounds an index built with a huge window or text that could not be cut.
MAX_EMBED_CHARS = 4000

BuildProgress = Callable[[str, int, int], None]  # (stage, done, total)
# A build publishes BM25 and the first dense model first when the others have this many
# texts to embed (a few seconds of e5): a first build of 1,800 chunks answers after
# ~10-25 s instead of after the whole build.
PHASE_MIN_TEXTS = 100


class IndexError_(Exception):
    """Base for index problems that a user can act on; the message says how."""


class IndexMissing(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


class IndexIncompatible(IndexError_):
    pass


class IndexOutdated(IndexIncompatible):
    """Written by another version of qa; a rebuild fixes it."""


class IndexBusy(IndexError_):
    pass


@dataclass(frozen=True)
class Location:
    """One place a chunk appears: file, 1-based line range, heading path there."""

    file: str
    start_line: int
    end_line: int
    heading_path: tuple[str, ...]
    section_line: int = 0  # where the whole section starts; windows of a section share it


@dataclass
class Chunk:
    """What is searched: a section (or a window of one), stored once however often it appears."""

    id: str
    heading_path: tuple[str, ...]
    text: str
    answered: bool
    part: int = 1
    parts: int = 1
    locations: list[Location] = field(default_factory=list)

    @property
    def heading(self) -> str:
        return self.heading_path[-1]

    @property
    def location(self) -> Location:
        return self.locations[0]

    @property
    def section_key(self) -> tuple[str, int]:
        """Windows of one section share this key."""
        return (self.location.file, self.location.section_line)

    def embed_text(self) -> str:
        """Text given to dense encoders: the heading path gives a window its context."""
        path = " > ".join(self.heading_path)
        return f"{path}\n\n{self.text}" if self.text else path

    def lexical_text(self) -> str:
        """Text given to BM25: the own heading counts twice, it says what the section is about."""
        return f"{' '.join(self.heading_path)} {self.heading}\n{self.text}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "heading_path": list(self.heading_path),
            "text": self.text,
            "answered": self.answered,
            "part": self.part,
            "parts": self.parts,
            "locations": [
                {
                    "file": loc.file,
                    "start_line": loc.start_line,
                    "end_line": loc.end_line,
                    "heading_path": list(loc.heading_path),
                    "section_line": loc.section_line,
                }
                for loc in self.locations
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Chunk:
        """A chunk from its line in ``sections.jsonl``; ValueError names what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"a chunk must be an object, not {type(data).__name__}")
        chunk = cls(
            id=_typed(data, "id", str),
            heading_path=_heading_path(data.get("heading_path")),
            text=_typed(data, "text", str),
            answered=_typed(data, "answered", bool),
            part=_whole(data.get("part", 1), "part", 1),
            parts=_whole(data.get("parts", 1), "parts", 1),
            locations=[_location(loc) for loc in _typed(data, "locations", list)],
        )
        if not chunk.locations:
            raise ValueError(f"chunk {chunk.id} has no locations")
        if chunk.part > chunk.parts:
            raise ValueError(f"chunk {chunk.id} is part {chunk.part} of {chunk.parts}")
        return chunk


def _typed(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ValueError(f"{key} must be a {kind.__name__}, not {value!r:.40}")
    return value


def _whole(value: Any, key: str, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{key} must be a whole number >= {low}, not {value!r:.40}")
    return value


def _heading_path(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(h, str) for h in value):
        raise ValueError("heading_path must be a non-empty list of strings")
    return tuple(value)


def _location(loc: Any) -> Location:
    if not isinstance(loc, dict):
        raise ValueError("a location must be an object")
    file = _typed(loc, "file", str)
    if not is_relative_note_path(file):
        raise ValueError(f"location {file!r:.80} is not a path inside the notes folder")
    return Location(
        file,
        _whole(loc.get("start_line"), "start_line", 1),
        _whole(loc.get("end_line"), "end_line", 0),
        _heading_path(loc.get("heading_path")),
        _whole(loc.get("section_line", 0), "section_line", 0),
    )


def chunk_id(heading: str, text: str) -> str:
    """Identical heading and text in several files make one chunk."""
    return hashlib.sha1(f"{heading}\x00{text}".encode()).hexdigest()[:20]


def chunks_from_sections(sections: list[Section]) -> list[Chunk]:
    """Merge identical sections into one chunk with several locations, in first-seen order."""
    chunks: dict[str, Chunk] = {}
    for s in sections:
        cid = chunk_id(s.heading, s.body)
        loc = Location(s.file, s.start_line, s.end_line, s.heading_path, s.section_line)
        if cid in chunks:
            chunks[cid].locations.append(loc)
        else:
            chunks[cid] = Chunk(cid, s.heading_path, s.body, s.answered, s.part, s.parts, [loc])
    return list(chunks.values())


def vector_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


# ---------------------------------------------------------------------------- reading


@dataclass
class Index:
    """A loaded index generation."""

    folder: Path
    manifest: Manifest
    chunks: list[Chunk]
    lexical: LexicalIndex | None
    vectors: dict[str, Any]  # channel -> faiss index
    mined: list[Concept] | None = None  # term pairs mined at build time, read with the rest
    # The notes folder's glossary.tsv as the build read it (None: an index older than that)
    notes_glossary: list[Concept] | None = None

    # channel -> its sentence-unit vectors (qa.store.unit_vectors), for the channels that have them
    unit_vectors: dict[str, UnitStore] = field(default_factory=dict)

    @cached_property
    def glossary(self) -> Glossary:
        """The glossary this index was built with: the shipped one, the notes folder's
        glossary.tsv as the build read it, and the pairs mined from the notes. (An index
        older than the recorded glossary.tsv reads the folder's, as the build did.)"""
        own = self.notes_glossary
        if own is None:
            own = notes_concepts(Path(self.manifest.corpus))
        mined = read_mined(self.folder) if self.mined is None else self.mined
        return Glossary([*shipped_concepts(), *own, *mined])

    @cached_property
    def tokenizer(self) -> BilingualTokenizer:
        """The tokenizer that cut this index's BM25 tokens: taught the glossary's Chinese
        terms when the index was built with the glossary, nothing otherwise."""
        taught = self.manifest.index_settings.get("glossary") is not None
        return BilingualTokenizer(self.glossary.chinese_forms() if taught else ())

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.manifest.channels)

    def model_id(self, channel: str) -> str | None:
        return self.manifest.model_id(channel)

    @classmethod
    def load(cls, index_dir: Path, channels: tuple[str, ...] | None = None) -> Index:
        """Open the current generation; ``channels`` limits which vector files are read."""
        for attempt in range(3):
            folder = current_generation(index_dir)
            try:
                with reader_lease(index_dir, folder.name):
                    if current_generation(index_dir) != folder:  # swapped meanwhile
                        continue
                    return cls._load_generation(folder, channels)
            except FileNotFoundError:
                # A build may have swapped generations while we read; look again.
                if attempt == 2 or current_generation(index_dir) == folder:
                    raise IndexCorrupt(
                        f"index at {index_dir} is incomplete (missing files); "
                        "run `qa build` to rebuild it"
                    ) from None
        raise IndexCorrupt(f"index at {index_dir} kept changing while it was read; try again")

    @classmethod
    def _load_generation(cls, folder: Path, channels: tuple[str, ...] | None) -> Index:
        manifest = read_manifest(folder)
        notes = set(manifest.notes)
        chunks = []
        extra = 0  # lines past the count the manifest gives
        try:
            with open(folder / SECTIONS, encoding="utf-8") as f:
                for n, line in enumerate(f, start=1):
                    if n > manifest.chunks:
                        extra += 1
                        continue
                    chunk = Chunk.from_json(json.loads(line))
                    stray = [loc.file for loc in chunk.locations if loc.file not in notes]
                    if stray:
                        raise ValueError(f"line {n} names {stray[0]!r:.80}, not an indexed note")
                    chunks.append(chunk)
        except (ValueError, KeyError, TypeError) as err:
            raise IndexCorrupt(
                f"index file {folder / SECTIONS} is damaged ({err}); run `qa build --full`"
            ) from None
        if len(chunks) != manifest.chunks or extra:
            raise IndexCorrupt(
                f"index at {folder} lists {len(chunks) + extra} chunks, its manifest says "
                f"{manifest.chunks}; run `qa build --full`"
            )
        lexical = None
        for name, info in manifest.channels.items():
            # Every path a manifest names must lie inside its generation, used or not.
            for file in info.files:
                _inside(folder, file, f"a file of the {name} channel")
        bm25 = manifest.lexical
        if bm25 is not None and (channels is None or LEXICAL in channels):
            lexical = load_lexical(folder / bm25.dir, len(chunks))
        vectors = {}
        for name, dense in manifest.dense.items():
            if channels is not None and name not in channels:
                continue
            vectors[name] = _read_faiss(folder / dense.file, len(chunks), dense.dim)
        own = read_mined(folder, NOTES_GLOSSARY) if (folder / NOTES_GLOSSARY).exists() else None
        units = {name: _read_units(folder, name, d) for name, d in manifest.dense.items()}
        return cls(
            folder,
            manifest,
            chunks,
            lexical,
            vectors,
            read_mined(folder),
            own,
            {name: store for name, store in units.items() if store is not None},
        )


def _read_units(folder: Path, name: str, dense: DenseChannel) -> UnitStore | None:
    """A channel's sentence-unit vectors, or None when the index has none."""
    if not dense.units_file:
        return None
    try:
        return read_store(folder, dense.units_file, dense.units_keys_file, dense.dim)
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as err:
        raise IndexCorrupt(
            f"unit vectors of the {name} channel in {folder} are damaged ({str(err)[:120]}); "
            "run `qa build --full`"
        ) from None


def _inside(folder: Path, name: str, what: str) -> Path:
    """``folder / name``, which a manifest may only name inside its own generation."""
    path = folder / name
    if Path(name).is_absolute() or ".." in Path(name).parts:
        inside = False
    else:
        resolved, base = path.resolve(), folder.resolve()
        inside = base in resolved.parents
    if not inside:
        raise IndexCorrupt(
            f"{folder / MANIFEST} names {what} {name!r:.80}, outside the index; "
            "run `qa build --full`"
        )
    return path


def _read_faiss(path: Path, count: int, dim: int) -> Any:
    import faiss

    from qa.threads import configure_faiss

    configure_faiss()
    if not path.exists():
        raise FileNotFoundError(path)
    # A flat index is a short header and count × dim floats: a file of another size was
    # not written for this manifest, and FAISS would allocate whatever its header says.
    size, expected = path.stat().st_size, count * dim * 4
    if not expected <= size <= expected + 4096:
        raise IndexCorrupt(
            f"vector file {path} is damaged ({size} bytes, not the {expected} that "
            f"{count}×{dim} vectors take); run `qa build --full`"
        )
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as err:
        raise IndexCorrupt(
            f"vector file {path} is damaged ({str(err).splitlines()[0][:80]}); "
            "run `qa build --full`"
        ) from None
    if (
        index.ntotal != count
        or index.d != dim
        or index.metric_type != faiss.METRIC_INNER_PRODUCT
        or not isinstance(index, faiss.IndexFlat)
    ):
        raise IndexCorrupt(
            f"vector file {path} holds {index.ntotal}×{index.d} vectors, expected "
            f"{count}×{dim} (flat, inner product); run `qa build --full`"
        )
    return index


_BM25_DTYPES = {"data": "f", "indices": "iu", "indptr": "iu"}


def load_lexical(folder: Path, chunks: int) -> LexicalIndex:
    """The BM25 arrays of a generation, checked against each other and the chunk count:
    a value out of range would index past an array, a huge ``num_docs`` would allocate
    it. Nothing is allocated that the files on disk do not hold."""
    try:
        arrays = {
            name: _load_npy(folder / f"{name}.csc.index.npy", kinds)
            for name, kinds in _BM25_DTYPES.items()
        }
        vocab = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
        data, indices, indptr = arrays["data"], arrays["indices"], arrays["indptr"]
        if not isinstance(params, dict):
            raise ValueError("params.index.json is not an object")
        num_docs = params.get("num_docs")
        if num_docs != max(chunks, 1) or isinstance(num_docs, bool):
            raise ValueError(f"num_docs is {num_docs!r:.40}, the index has {chunks} chunks")
        if not isinstance(vocab, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
            for k, v in vocab.items()
        ):
            raise ValueError("the vocabulary must map tokens to whole numbers")
        ids = np.fromiter(vocab.values(), dtype=np.int64, count=len(vocab))
        if len(ids) and (ids.min() < 0 or ids.max() >= len(indptr)):
            raise ValueError("vocabulary ids lie outside the arrays")
        if len(data) != len(indices) or not len(indptr) or indptr[0] != 0:
            raise ValueError("the arrays do not match each other")
        if indptr[-1] != len(data) or (np.diff(indptr) < 0).any():
            raise ValueError("indptr does not describe the data")
        if len(indices) and (indices.min() < 0 or indices.max() >= num_docs):
            raise ValueError("chunk ids lie outside the index")
        if not np.isfinite(data).all():
            raise ValueError("scores are not finite")
    except FileNotFoundError:
        raise
    except (ValueError, KeyError, TypeError, OSError) as err:
        raise IndexCorrupt(
            f"BM25 index in {folder.parent} is damaged ({str(err)[:120]}); run `qa build --full`"
        ) from None
    return LexicalIndex(data, indices, indptr, vocab, num_docs)


def _load_npy(path: Path, kinds: str) -> np.ndarray:
    """A one-dimensional numeric ``.npy`` array, after checking that its header describes
    what the file holds (np.load would allocate what the header says)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"{path.name} has .npy version {version}")
        offset = f.tell()
    if dtype.kind not in kinds or len(shape) != 1 or dtype.hasobject:
        raise ValueError(f"{path.name} holds {dtype} of shape {shape}")
    if offset + shape[0] * dtype.itemsize != path.stat().st_size:
        raise ValueError(f"{path.name} is not as long as its header says")
    array = np.load(path, allow_pickle=False)
    return np.asarray(array)


def current_generation(index_dir: Path) -> Path:
    index_dir = Path(index_dir)
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexMissing(f"no index at {index_dir}; run `qa build`") from None
    except UnicodeDecodeError:
        name = ""
    if not name.startswith("gen-") or "/" in name or "\x00" in name:
        raise IndexCorrupt(f"{pointer} is damaged; run `qa build --full`")
    return index_dir / name


def current_manifest(index_dir: Path) -> Manifest | None:
    """The manifest of the index in use, or None when there is none or it cannot be read."""
    try:
        return read_manifest(current_generation(index_dir))
    except (IndexError_, OSError):
        return None


def read_manifest(folder: Path) -> Manifest:
    """The manifest of a generation, checked field by field (see ``check_manifest``)."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (ValueError, UnicodeDecodeError) as err:
        raise IndexCorrupt(f"{path} is not valid JSON ({err}); run `qa build --full`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexCorrupt(f"{path} is not a qa index manifest; run `qa build --full`")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexOutdated(
            f"index at {folder.parent} has format version {manifest.get('format_version')!r:.20}, "
            f"this qa reads version {FORMAT_VERSION}; run `qa build --full` to rebuild it"
        )
    problem = manifest_problem(manifest)
    if problem:
        raise IndexCorrupt(f"{path} is damaged ({problem}); run `qa build --full`")
    return Manifest.from_json(manifest)


def check_compatible(manifest: Manifest, settings: Settings, pool: ModelPool = POOL) -> None:
    """Raise IndexIncompatible when the index was built with other models than asked for."""
    dense = manifest.dense
    for model, channel in zip(settings.models, settings.dense_channels, strict=True):
        info = dense.get(channel)
        if info is None and channel in manifest.filling:
            continue  # a phased build adds it in its next generation
        if info is None:
            built = ", ".join(sorted(dense)) or "none"
            raise IndexIncompatible(
                f"the index has no vectors for model {model!r} (it was built with: {built}); "
                f"run `qa build --model {model}` to rebuild it"
            )
        expected = pool.get(model).model_id
        if info.model_id != expected:
            raise IndexIncompatible(
                f"the index was built with model {info.model_id!r}, not {expected!r}; "
                "run `qa build` to rebuild it with the current model"
            )


# ---------------------------------------------------------------------------- status


@dataclass
class Freshness:
    """Whether an index still matches the notes and settings, and why not."""

    fresh: bool
    reason: str = ""


def check_freshness(
    corpus: Path, index_dir: Path, settings: Settings, covering: bool = False
) -> Freshness:
    """Compare the notes on disk and the settings with what the index was built from.

    With ``covering``, an index built with more channels than ``settings`` asks for
    still counts as fresh (``qa eval --compare`` evaluates channel subsets on it).
    """
    try:
        folder = current_generation(index_dir)
        manifest = read_manifest(folder)
    except FileNotFoundError:
        return Freshness(False, "the index is incomplete")
    except IndexMissing:
        return Freshness(False, "there is no index yet")
    except IndexError_ as err:
        return Freshness(False, str(err))
    if manifest.corpus != str(Path(corpus).resolve()):
        return Freshness(False, f"the index was built from {manifest.corpus}")
    if manifest.filling and not build_running(index_dir):
        missing = ", ".join(manifest.filling)
        return Freshness(False, f"the {missing} vectors were never filled in (a build stopped)")
    built, wanted = manifest.index_settings, index_settings(settings, corpus)
    if not (_covers(built, wanted) if covering else built == wanted):
        return Freshness(False, "settings changed since the index was built")
    lexical = manifest.lexical
    if lexical is not None and not tokens_of_this_version(lexical.segmenter):
        return Freshness(False, SEGMENTER_CHANGED)
    stats, _, _ = select_notes(corpus, settings)
    recorded = manifest.notes
    # Notes the build could not use (binary, not UTF-8, too large, unreadable) count as
    # unchanged while their size and time are the same, as read notes do.
    skipped = manifest.skipped
    if set(recorded) | set(skipped) != {s.path for s in stats}:
        return Freshness(False, "notes were added or removed")
    for stat in stats:
        info = recorded.get(stat.path) or skipped[stat.path]
        if info.size == stat.size and info.mtime_ns == stat.mtime_ns:
            continue
        if stat.path in skipped:
            return Freshness(False, f"{stat.path} changed")
        try:
            digest = hashlib.sha256((Path(corpus) / stat.path).read_bytes()).hexdigest()
        except OSError:
            return Freshness(False, f"{stat.path} cannot be read")
        if digest != info.sha256:
            return Freshness(False, f"{stat.path} changed")
    return Freshness(True)


def _covers(built: dict[str, Any], wanted: dict[str, Any]) -> bool:
    same = all(
        built.get(k) == wanted.get(k)
        for k in ("window_chars", "glossary", "tokenizer", "chunker", "selection")
    )
    return (
        same
        and set(wanted["channels"]) <= set(built.get("channels", []))
        and set(wanted["models"]) <= set(built.get("models", []))
    )


def index_settings(settings: Settings, corpus: Path) -> dict[str, Any]:
    """The part of the settings that the index content depends on.

    The glossary counts: its Chinese terms decide how Chinese text is cut into words.
    """
    return {
        "channels": list(settings.channels),
        "models": list(settings.models),
        "window_chars": settings.window_chars,
        "glossary": load_glossary(corpus).digest() if settings.glossary else None,
        "tokenizer": TOKENIZER,
        "chunker": CHUNKER,
        # Only when on, so that indexes built before the setting existed stay fresh.
        **({"follow_links": True} if settings.follow_links else {}),
        **({"selection": chosen} if (chosen := selection_fingerprint(corpus, settings)) else {}),
    }


def read_outline(index: Index) -> list[Holder]:
    """The headings of the notes that only hold sub-headings, with their lines.

    An index older than this file has none (navigation then shows approximate lines);
    a record that is not what the build writes is skipped, never trusted."""
    notes = set(index.manifest.notes)
    holders = []
    try:
        lines = (index.folder / OUTLINE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    for line in lines:
        try:
            data = json.loads(line)
            file, path, at = data["file"], data["heading_path"], data["line"]
        except (ValueError, KeyError, TypeError):
            continue
        if (
            file in notes
            and strings_ok(path)
            and path
            and isinstance(at, int)
            and not isinstance(at, bool)
            and at >= 1
        ):
            holders.append(Holder(file, tuple(path), at))
    return holders


def read_mined(folder: Path, name: str = MINED_GLOSSARY) -> list[Concept]:
    """Term pairs mined from the notes at build time (``name``: or the notes folder's
    glossary as the build read it, ``NOTES_GLOSSARY``)."""
    path = folder / name
    if not path.exists():
        return []
    concepts = []
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            forms, source, kind = data["forms"], data["source"], data.get("kind", "term")
            if not (strings_ok(forms) and forms and isinstance(source, str)):
                raise ValueError("a term pair must have a list of forms and a source")
            if kind not in ("term", "question"):
                raise ValueError("a term's kind must be 'term' or 'question'")
            concepts.append(Concept(tuple(forms), source, kind))
    except (ValueError, KeyError, TypeError) as err:
        raise IndexCorrupt(f"{path} is damaged ({str(err)[:80]}); run `qa build --full`") from None
    return concepts


def strings_ok(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# ---------------------------------------------------------------------------- building


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


@contextlib.contextmanager
def build_lock(index_dir: Path, wait: bool = True) -> Iterator[None]:
    """One build at a time per index folder: an advisory lock (filelock: flock on Unix,
    msvcrt on Windows), released if the process dies. A new lock object each time, so two
    builds in one process exclude each other too."""
    from filelock import FileLock, Timeout

    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(index_dir / ".lock", is_singleton=False, thread_local=False)
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout:
        raise IndexBusy(f"another `qa build` is running on {index_dir}") from None
    try:
        yield
    finally:
        lock.release()


def build_running(index_dir: Path) -> bool:
    """Whether a build (of this process or another) holds ``index_dir``'s lock now."""
    try:
        with build_lock(index_dir, wait=False):
            return False
    except IndexBusy:
        return True


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
            glossary = (
                Glossary([*shipped_concepts(), *own_terms, *mined]) if settings.glossary else None
            )
            tokenizer = BilingualTokenizer(glossary.chinese_forms() if glossary else ())
            if settings.glossary:
                _write_concepts(tmp / MINED_GLOSSARY, mined)
                _write_concepts(tmp / NOTES_GLOSSARY, own_terms)
            channels: dict[str, LexicalChannel | DenseChannel] = {}
            if settings.lexical:
                segmenter = tokenizer.fingerprint
                tokens = _bm25_tokens(chunks, previous, tokenizer, tmp / BM25_TOKENS)
                build_bm25(tokens, tmp / BM25_DIR)
                channels[LEXICAL] = LexicalChannel(BM25_DIR, TOKENIZER, segmenter, BM25_TOKENS)
            # What each dense channel can reuse is read now: publishing the first phase
            # removes the previous generation.
            encoders = [pool.get(model) for model in settings.models]
            english = any(not e.multilingual for e in encoders)  # qa.store.unit_vectors
            plans = [
                _plan(encoder, name, model, chunks, glossary, previous, english)
                for model, name, encoder in zip(
                    settings.models, settings.dense_channels, encoders, strict=True
                )
            ]
            first, later = plans[:1], plans[1:]
            if phased is None:
                phased = sum(len(plan.todo) for plan in later) >= PHASE_MIN_TEXTS
            for plan in first if phased else plans:
                channels[plan.name] = _embed_channel(plan, chunks, tmp, report, progress)
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
                    channels=dict(channels),
                    notes=notes_meta,
                    skipped=skipped,
                    created=datetime.now(UTC).isoformat(timespec="seconds"),
                    problems=tuple(str(p) for p in problems),
                    filling=filling,
                )

            if phased and later:
                # The first generation answers with BM25 and the first model while the
                # others are embedded; the second is the first's files plus theirs.
                report.first_generation = gen
                _publish(index_dir, tmp, gen, manifest(tuple(plan.name for plan in later)))
                if published is not None:
                    published(gen)
                gen = _generation_name()
                tmp = index_dir / f".{gen}.tmp"
                _link_files(index_dir / report.first_generation, tmp)
                for plan in later:
                    channels[plan.name] = _embed_channel(plan, chunks, tmp, report, progress)
            _publish(index_dir, tmp, gen, manifest())
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    report.notes = len(notes_meta)
    report.chunks = len(chunks)
    report.places = sum(len(c.locations) for c in chunks)
    report.unanswered = sum(not c.answered for c in chunks)
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
    _write_atomic(index_dir / CURRENT, gen + "\n")
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


def _write_concepts(path: Path, concepts: list[Concept]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for concept in concepts:
            record = {"forms": list(concept.forms), "source": concept.source}
            if concept.kind != "term":
                record["kind"] = concept.kind
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
) -> _Plan:
    texts = [embed_text(c, encoder, glossary) for c in chunks]
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
) -> DenseChannel:
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

    # The sentence units of the answered chunks, embedded once (qa.store.unit_vectors).
    def sentences(done: int, total: int) -> None:
        if progress:
            progress(f"embedding sentences ({name})", done, total)

    answered_texts = [c.text for c in chunks if c.answered]
    keys, unit_matrix, fresh_units = embed_units(
        encoder, answered_texts, plan.glossary, plan.known_units, plan.beside_english, sentences
    )
    units_file, units_keys = write_store(tmp, name, keys, unit_matrix)
    report.sentences[name] = fresh_units
    return DenseChannel(
        model,
        encoder.model_id,
        dim,
        file,
        hashes_file,
        count=len(chunks),
        centroid=tuple(round(float(x), 6) for x in centroid),
        units_file=units_file,
        units_keys_file=units_keys,
        units=len(keys),
    )


def embed_text(chunk: Chunk, encoder: Encoder, glossary: Glossary | None) -> str:
    """What an encoder reads for a chunk: English-only models get Chinese rendered in English.

    At most MAX_EMBED_CHARS: the models read 256 or 512 tokens of it anyway, and a chunk
    that could not be cut must not cost minutes.
    """
    text = chunk.embed_text()[:MAX_EMBED_CHARS]
    if glossary is not None and not encoder.multilingual:
        return glossary.render_english(text)[:MAX_EMBED_CHARS]
    return text


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    for path in [*folder.rglob("*"), folder]:
        if path.is_dir():
            _fsync_dir(path)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
