"""The manifest of an index generation, typed: what a build wrote and what a reader trusts.

``manifest.json`` is checked field by field (``manifest_problem``) before it becomes a
``Manifest``, so nothing read from an index folder is used unchecked, and the rest of
qa reads attributes, not dictionary keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from qa.settings import LEXICAL
from qa.store.notes import is_relative_note_path

FORMAT = "qa-index"
FORMAT_VERSION = 1
MAX_DIM = 16384
BM25_TOKENS = "bm25.tokens.jsonl"


@dataclass(frozen=True)
class NoteRecord:
    """What a build saw of one note: enough to tell later whether it changed."""

    size: int
    mtime_ns: int
    sha256: str = ""  # empty for a note the build skipped
    problem: str = ""  # why it was skipped

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"size": self.size, "mtime_ns": self.mtime_ns}
        if self.sha256:
            data["sha256"] = self.sha256
        if self.problem:
            data["problem"] = self.problem
        return data


@dataclass(frozen=True)
class LexicalChannel:
    dir: str
    tokenizer: str = ""
    segmenter: str = ""  # fingerprint of the words the Chinese segmenter was taught
    tokens_file: str = BM25_TOKENS

    def to_json(self) -> dict[str, Any]:
        return {
            "dir": self.dir,
            "tokenizer": self.tokenizer,
            "segmenter": self.segmenter,
            "tokens_file": self.tokens_file,
        }

    @property
    def files(self) -> tuple[str, ...]:
        return (self.dir, self.tokens_file)


@dataclass(frozen=True)
class DenseChannel:
    model: str  # the setting that named it (registry name or path)
    model_id: str  # what an index answers only the same model for
    dim: int
    file: str
    hashes_file: str = ""
    metric: str = "inner_product"
    count: int = 0
    # The average answered passage: confidence compares a question's best match to it.
    centroid: tuple[float, ...] = ()
    # Sentence-unit vectors (qa.store.unit_vectors): float16 .npy rows and their keys; empty
    # in an index built without them.
    units_file: str = ""
    units_keys_file: str = ""
    units: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_id": self.model_id,
            "dim": self.dim,
            "file": self.file,
            "hashes_file": self.hashes_file,
            "metric": self.metric,
            "count": self.count,
            "centroid": [round(float(x), 6) for x in self.centroid],
            "units_file": self.units_file,
            "units_keys_file": self.units_keys_file,
            "units": self.units,
        }

    @property
    def files(self) -> tuple[str, ...]:
        named = (self.file, self.hashes_file, self.units_file, self.units_keys_file)
        return tuple(f for f in named if f)


Channel = LexicalChannel | DenseChannel


@dataclass(frozen=True)
class Manifest:
    corpus: str  # the notes folder it was built from, resolved
    index_settings: dict[str, Any]  # the settings its content depends on, compared whole
    chunks: int
    channels: dict[str, Channel]
    notes: dict[str, NoteRecord]
    skipped: dict[str, NoteRecord] = field(default_factory=dict)
    created: str = ""
    problems: tuple[str, ...] = ()
    # Channels the settings name that a later generation of the same build adds: the
    # build published this one first so that it answers meanwhile (qa.store.build.build_index).
    filling: tuple[str, ...] = ()

    @property
    def lexical(self) -> LexicalChannel | None:
        channel = self.channels.get(LEXICAL)
        return channel if isinstance(channel, LexicalChannel) else None

    @property
    def dense(self) -> dict[str, DenseChannel]:
        return {n: c for n, c in self.channels.items() if isinstance(c, DenseChannel)}

    @property
    def models(self) -> tuple[str, ...]:
        """The dense models the index was built with, as settings name them."""
        return tuple(self.index_settings.get("models", ()))

    def model_id(self, channel: str) -> str | None:
        info = self.dense.get(channel)
        return info.model_id if info else None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": self.created,
            "corpus": self.corpus,
            "index_settings": self.index_settings,
            "chunks": self.chunks,
            "channels": {name: c.to_json() for name, c in self.channels.items()},
            "notes": {path: n.to_json() for path, n in self.notes.items()},
            "skipped": {path: n.to_json() for path, n in self.skipped.items()},
            "problems": list(self.problems),
            **({"filling": list(self.filling)} if self.filling else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """A manifest from its JSON, which ``manifest_problem`` has found sound."""

        def channel(name: str, info: dict[str, Any]) -> Channel:
            if name == LEXICAL:
                return LexicalChannel(
                    info["dir"],
                    str(info.get("tokenizer", "")),
                    info.get("segmenter", ""),
                    info.get("tokens_file", BM25_TOKENS),
                )
            return DenseChannel(
                str(info.get("model", "")),
                info["model_id"],
                info["dim"],
                info["file"],
                info.get("hashes_file", ""),
                str(info.get("metric", "inner_product")),
                _int(info.get("count"), data["chunks"]),
                tuple(float(x) for x in info.get("centroid", ())),
                str(info.get("units_file", "")),
                str(info.get("units_keys_file", "")),
                _int(info.get("units"), 0),
            )

        def record(info: dict[str, Any]) -> NoteRecord:
            return NoteRecord(
                info["size"],
                info["mtime_ns"],
                info.get("sha256", ""),
                str(info.get("problem", "")),
            )

        problems = data.get("problems", [])
        return cls(
            corpus=data["corpus"],
            index_settings=data["index_settings"],
            chunks=data["chunks"],
            channels={name: channel(name, info) for name, info in data["channels"].items()},
            notes={path: record(info) for path, info in data["notes"].items()},
            skipped={path: record(info) for path, info in data.get("skipped", {}).items()},
            created=str(data.get("created", "")),
            problems=tuple(str(p) for p in problems) if isinstance(problems, list) else (),
            filling=tuple(data.get("filling", ())),
        )


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is wrong with the fields of a manifest, or None.

    The manifest's schema: every field that qa reads, with its type and range, so that
    nothing read from an index folder is used unchecked.
    """

    def whole(value: Any, low: int = 0, high: int | None = None) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and value >= low
            and (high is None or value <= high)
        )

    def strings(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)

    def note_records(value: Any, digest: bool) -> bool:
        return isinstance(value, dict) and all(
            is_relative_note_path(path)
            and isinstance(info, dict)
            and whole(info.get("size"))
            and whole(info.get("mtime_ns"))
            and (not digest or isinstance(info.get("sha256"), str))
            for path, info in value.items()
        )

    if not whole(manifest.get("chunks")):
        return "chunks must be a whole number"
    if not isinstance(manifest.get("corpus"), str):
        return "corpus must be a path"
    built = manifest.get("index_settings")
    if not isinstance(built, dict) or not strings(built.get("models", [])):
        return "index_settings must be an object with a list of models"
    if not strings(built.get("channels", [])):
        return "index_settings.channels must be a list of names"
    if not note_records(manifest.get("notes"), digest=True):
        return "notes must map note paths to their sha256, size and mtime_ns"
    if not note_records(manifest.get("skipped", {}), digest=False):
        return "skipped must map note paths to their size and mtime_ns"
    if not strings(manifest.get("filling", [])):
        return "filling must be a list of channel names"
    channels = manifest.get("channels")
    if not isinstance(channels, dict) or not channels:
        return "channels must be an object naming at least one channel"
    for name, info in channels.items():
        if not isinstance(info, dict):
            return f"channel {name!r:.40} must be an object"
        if name == LEXICAL:
            names = [info.get("dir"), info.get("tokens_file", BM25_TOKENS)]
            if not strings(names) or not isinstance(info.get("segmenter", ""), str):
                return "the bm25 channel must name its folder and tokens file"
            continue
        dim = info.get("dim")
        if not isinstance(dim, int) or not whole(dim, 1, MAX_DIM):
            return f"channel {name!r:.40} has no valid dim"
        if not strings([info.get("file"), info.get("hashes_file", ""), info.get("model_id")]):
            return f"channel {name!r:.40} must name its file and model_id"
        units = [info.get("units_file", ""), info.get("units_keys_file", "")]
        if not strings(units) or bool(units[0]) != bool(units[1]):
            return f"channel {name!r:.40} must name both unit vector files or neither"
        centroid = info.get("centroid", [0.0] * dim)
        if not (
            isinstance(centroid, list)
            and len(centroid) == dim
            and all(
                isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                for x in centroid
            )
        ):
            return f"the centroid of channel {name!r:.40} must be {dim} finite numbers"
    return None
