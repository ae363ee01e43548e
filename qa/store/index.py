"""The index on disk: chunks, their vectors per channel, BM25, and a manifest; reading a
generation, its freshness and compatibility. Building one is qa.store.build.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from qa.lang.english_reading import READING
from qa.lang.glossary import (
    Concept,
    Glossary,
    LeftOut,
    glossary_digest,
    notes_concepts,
    shipped_concepts,
)
from qa.lang.text import TOKENIZER, BilingualTokenizer, tokens_of_this_version
from qa.models.pool import POOL, ModelPool
from qa.settings import LEXICAL, Settings
from qa.store.chunking import CHUNKER, Holder
from qa.store.chunks import Chunk
from qa.store.leases import reader_lease
from qa.store.lexical import LexicalIndex
from qa.store.manifest import (
    FORMAT,
    FORMAT_VERSION,
    DenseChannel,
    Manifest,
    manifest_problem,
)
from qa.store.selection import select_notes, selection_fingerprint
from qa.store.unit_vectors import UnitStore, npy_header, read_store

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
SECTIONS = "sections.jsonl"
OUTLINE = "outline.jsonl"  # headings that only hold sub-headings, for navigation
MINED_GLOSSARY = "glossary.mined.jsonl"
NOTES_GLOSSARY = "glossary.notes.jsonl"  # the notes folder's glossary.tsv, as built
LEFT_OUT_GLOSSARY = "glossary.left-out.jsonl"  # mined pairs not taken, and why (keep_mined)
MINING = "pairs-v4"  # how mined pairs are chosen (qa.lang.glossary.keep_mined)
SEGMENTER_CHANGED = "the word segmenter changed since the index was built"
BuildProgress = Callable[[str, int, int], None]  # (stage, done, total)


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
    shape, _, dtype, offset = npy_header(path)
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
    """Whether an index still matches the notes and settings, and why not; ``notes``:
    stale only because notes were added, removed or changed (not its settings, not the
    version of qa that built it)."""

    fresh: bool
    reason: str = ""
    notes: bool = False


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
        changed = ", ".join(_differing(built, wanted, covering) or list(_SUBSETS))
        return Freshness(False, f"settings changed since the build: {changed}")
    lexical = manifest.lexical
    if lexical is not None and not tokens_of_this_version(lexical.segmenter):
        return Freshness(False, SEGMENTER_CHANGED)
    stats, _, _ = select_notes(corpus, settings)
    recorded = manifest.notes
    # Notes the build could not use (binary, not UTF-8, too large, unreadable) count as
    # unchanged while their size and time are the same, as read notes do.
    skipped = manifest.skipped
    if set(recorded) | set(skipped) != {s.path for s in stats}:
        return Freshness(False, "notes were added or removed", notes=True)
    for stat in stats:
        info = recorded.get(stat.path) or skipped[stat.path]
        if info.size == stat.size and info.mtime_ns == stat.mtime_ns:
            continue
        if stat.path in skipped:
            return Freshness(False, f"{stat.path} changed", notes=True)
        try:
            digest = hashlib.sha256((Path(corpus) / stat.path).read_bytes()).hexdigest()
        except OSError:
            return Freshness(False, f"{stat.path} cannot be read", notes=True)
        if digest != info.sha256:
            return Freshness(False, f"{stat.path} changed", notes=True)
    return Freshness(True)


_SUBSETS = ("channels", "models")  # an index with more of these covers a request for fewer


def _covers(built: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return (
        not _differing(built, wanted, covering=True)
        and set(wanted["channels"]) <= set(built.get("channels", []))
        and set(wanted["models"]) <= set(built.get("models", []))
    )


def _differing(built: dict[str, Any], wanted: dict[str, Any], covering: bool = False) -> list[str]:
    """The settings whose recorded value is not the wanted one (with ``covering``, the
    channels and models are left to ``_covers``)."""
    keys = {*built, *wanted} - (set(_SUBSETS) if covering else set())
    return sorted(k for k in keys if built.get(k) != wanted.get(k))


def index_settings(settings: Settings, corpus: Path) -> dict[str, Any]:
    """The part of the settings that the index content depends on.

    The glossary counts: its Chinese terms decide how Chinese text is cut into words.
    """
    return {
        "channels": list(settings.channels),
        "models": list(settings.models),
        "window_chars": settings.window_chars,
        "glossary": glossary_digest(corpus) if settings.glossary else None,
        **({"mining": MINING} if settings.glossary else {}),
        "tokenizer": TOKENIZER,
        "chunker": CHUNKER,
        # How an English-only model reads a Chinese section (qa.lang.english_reading).
        **({"english_reading": READING} if settings.glossary else {}),
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
    return _read_records(folder / name, _concept)


def read_left_out(folder: Path) -> list[LeftOut]:
    """The mined pairs the build did not take, and why (none for an older index)."""

    def left_out(data: dict[str, Any]) -> LeftOut:
        if not isinstance(data["why"], str):
            raise ValueError("a left-out pair must say why")
        return LeftOut(_concept(data), data["why"])

    return _read_records(folder / LEFT_OUT_GLOSSARY, left_out)


def _concept(data: dict[str, Any]) -> Concept:
    forms, source, kind = data["forms"], data["source"], data.get("kind", "term")
    if not (strings_ok(forms) and forms and isinstance(source, str)):
        raise ValueError("a term pair must have a list of forms and a source")
    if kind not in ("term", "question"):
        raise ValueError("a term's kind must be 'term' or 'question'")
    return Concept(tuple(forms), source, kind)


T = TypeVar("T")


def _read_records(path: Path, parse: Callable[[dict[str, Any]], T]) -> list[T]:
    """One ``parse``d record per JSON line of ``path`` (none when it is missing);
    IndexCorrupt for anything else."""
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028 is text
        return [parse(json.loads(line)) for line in lines if line]
    except (ValueError, KeyError, TypeError) as err:
        raise IndexCorrupt(f"{path} is damaged ({str(err)[:80]}); run `qa build --full`") from None


def strings_ok(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# ---------------------------------------------------------------------------- building


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
