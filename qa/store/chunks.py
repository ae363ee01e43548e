"""What an index holds: a chunk (a section, or a window of a long one) and the places
it appears in the notes. Plain data, read and written as JSON lines."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from qa.store.chunking import Section, body_kind, placeholder_line
from qa.store.notes import (
    is_relative_note_path,
)


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
    # A heading the notes ask but do not answer yet (``Section.asks``): nothing, a TODO or
    # one link under it; not a list of links, not a pointer above sub-headings that hold
    # the text, and only the first window of a long section.
    asks: bool = False

    @property
    def placeholder(self) -> str:
        """What stands under a heading the notes ask instead of an answer ("TODO", a link
        to read); "" when nothing does."""
        return placeholder_line(self.text) if self.asks else ""

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
            "asks": self.asks,
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
        if "asks" in data:
            chunk.asks = _typed(data, "asks", bool)
        else:  # written before the field: read as its chunker judged it then
            chunk.asks = not chunk.answered and body_kind(chunk.text) != "links"
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
            chunks[cid] = Chunk(
                cid, s.heading_path, s.body, s.answered, s.part, s.parts, [loc], s.asks
            )
    return list(chunks.values())


def vector_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


# ---------------------------------------------------------------------------- reading
