"""Sentence-unit vectors, embedded once at build time, so that marking the sentences that
answer costs a question only dot products.

A build splits every answered chunk into its markable units (``qa.retrieve.answer_span``) and
embeds each distinct unit once, in the channel of its language: an English-only model
(MiniLM) the units without Chinese, a multilingual one (e5) the Chinese units (and every
unit when it is the only dense channel; ``channel_reads``). The vectors
are stored per channel as a plain float16 ``.npy`` file (``units.<channel>.npy``, read
with ``allow_pickle=False``) beside a text file with one key per row
(``units.<channel>.keys``: a hash of the unit's text); the manifest lists both. A unit
whose key is not in the store (an index built before unit vectors, or a model whose
store was left out) is scored without the dense features.

An incremental build reuses the vectors of units whose text is unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.lang.text import has_chinese
from qa.lang.units import MAX_UNIT_CHARS, split_units

if TYPE_CHECKING:
    from qa.lang.glossary import Glossary
    from qa.models.encoders import Encoder

UNITS_FILE = "units.{}.npy"
KEYS_FILE = "units.{}.keys"


def npy_header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """A ``.npy`` file's shape, Fortran order, dtype and data offset, read from its header
    without loading it (np.load would allocate what the header says). ValueError for a
    version it does not know."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"{path.name} has .npy version {version}")
        return shape, fortran, dtype, f.tell()


def unit_key(text: str) -> str:
    """What a unit's vector is stored under: a hash of what the dense channels read."""
    return hashlib.sha1(text[:MAX_UNIT_CHARS].encode()).hexdigest()[:16]


def chunk_unit_texts(texts: Iterable[str]) -> list[str]:
    """The distinct markable units of these chunk texts, as the channels read them."""
    seen: dict[str, None] = {}
    for text in texts:
        for unit in split_units(text):
            if unit.markable:
                seen.setdefault(unit.text[:MAX_UNIT_CHARS], None)
    return list(seen)


def channel_reads(multilingual: bool, text: str, beside_english: bool) -> bool:
    """Whether a channel stores this unit's vector. An English-only model reads the units
    without Chinese; a multilingual one reads the Chinese units, and the English ones
    too only when no English-only channel is built beside it (``beside_english``).
    A Chinese question then scores English units in the English-only channel, with the
    question rendered in English. On the dev halves (gold section Hit@1, before the last
    refit) this scored en 0.750 / zh 0.622 against 0.725 / 0.667 with e5 for every unit:
    no clear difference, at a third of the unit embedding time for English notes."""
    if not multilingual:
        return not has_chinese(text)
    return not beside_english or has_chinese(text)


class UnitStore:
    """One channel's unit vectors: float16 rows, found by ``unit_key``."""

    def __init__(self, keys: list[str], vectors: np.ndarray) -> None:
        if vectors.ndim != 2 or len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys for vectors of shape {vectors.shape}")
        self.keys = keys
        self.vectors = vectors
        self._rows: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self) -> dict[str, int]:
        if self._rows is None:
            self._rows = {k: i for i, k in enumerate(self.keys)}
        return self._rows

    def lookup(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of ``texts`` as float32 rows; NaN rows for texts not stored."""
        rows = self.rows()
        out = np.full((len(texts), self.vectors.shape[1]), np.nan, dtype=np.float32)
        for i, text in enumerate(texts):
            row = rows.get(unit_key(text))
            if row is not None:
                out[i] = self.vectors[row]
        return out

    def known(self) -> dict[str, np.ndarray]:
        return dict(zip(self.keys, self.vectors, strict=True))


def write_store(
    folder: Path, channel: str, keys: list[str], vectors: np.ndarray
) -> tuple[str, str]:
    """Write a channel's unit vectors into a generation folder; the two file names."""
    units, keys_file = UNITS_FILE.format(channel), KEYS_FILE.format(channel)
    np.save(folder / units, np.ascontiguousarray(vectors, dtype=np.float16), allow_pickle=False)
    (folder / keys_file).write_text("".join(f"{k}\n" for k in keys), encoding="ascii")
    return units, keys_file


def read_store(folder: Path, units: str, keys_file: str, dim: int) -> UnitStore:
    """A channel's unit vectors, after checking that the ``.npy`` header describes a
    float16 matrix of ``dim`` columns as long as the file and the key list (np.load
    would allocate what the header says). ValueError says what is wrong."""
    path = folder / units
    shape, fortran, dtype, offset = npy_header(path)
    if dtype != np.float16 or len(shape) != 2 or shape[1] != dim or fortran:
        raise ValueError(f"{units} holds {dtype} of shape {shape}, not float16 rows of {dim}")
    if offset + shape[0] * shape[1] * 2 != path.stat().st_size:
        raise ValueError(f"{units} is not as long as its header says")
    keys = (folder / keys_file).read_text(encoding="ascii").split()
    if len(keys) != shape[0]:
        raise ValueError(f"{keys_file} has {len(keys)} keys for {shape[0]} vectors")
    vectors = np.load(path, allow_pickle=False)
    if not np.isfinite(vectors).all():
        raise ValueError(f"{units} holds values that are not finite")
    return UnitStore(keys, vectors)


def embed_units(
    encoder: Encoder,
    texts: Sequence[str],
    glossary: Glossary | None,
    known: dict[str, np.ndarray],
    beside_english: bool,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[str], np.ndarray, int]:
    """The keys and vectors of the units of ``texts`` (chunk texts) that ``encoder``
    reads (``channel_reads``), reusing ``known`` vectors by key; and how many were
    embedded anew. An English-only encoder reads Chinese rendered in English (as for
    chunks)."""
    multilingual = encoder.multilingual
    units = [u for u in chunk_unit_texts(texts) if channel_reads(multilingual, u, beside_english)]
    keys = [unit_key(u) for u in units]
    todo = [i for i, k in enumerate(keys) if k not in known]
    if todo:
        shown = [units[i] for i in todo]
        if glossary is not None and not encoder.multilingual:
            shown = [glossary.render_english(t) for t in shown]
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, len(todo))

        if progress:
            progress(0, len(todo))  # the stage starts now, not at its first batch
        fresh = encoder.embed_passages(shown, progress=advance)
        known = {**known, **{keys[i]: row for i, row in zip(todo, fresh, strict=True)}}
    if not keys:
        return [], np.zeros((0, encoder.dim), dtype=np.float16), 0
    return keys, np.vstack([known[k] for k in keys]).astype(np.float16), len(todo)
