"""Moving around the notes section by section: whole sections, parents and siblings.

An index stores chunks (sections, or windows of long sections), each at one or more
places. ``Outline`` puts them back into each note's tree of headings, so a reader can
open a whole section, go up to the section that contains it, and step to its
neighbours. A heading that only holds sub-headings has no chunk of its own; it appears
here as a section without text, and each note has a root that lists its top sections.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from qa.store.chunking import Holder
from qa.store.chunks import Chunk, Location
from qa.store.index import Index, read_outline


@dataclass(eq=False)
class OutlineSection:
    """One heading of a note with its own text and the sections under it.

    ``line`` is the heading's line (1-based). A heading that only holds sub-headings
    has its line from the index's outline; from an index without one, ``line_known``
    is False and ``line`` is its first sub-section's.
    """

    file: str
    heading_path: tuple[str, ...]
    line: int
    end_line: int = 0
    text: str = ""  # the section's own text, its windows joined in order
    answered: bool = False
    line_known: bool = True
    parent: OutlineSection | None = field(default=None, repr=False)
    children: list[OutlineSection] = field(default_factory=list, repr=False)
    places: list[Location] = field(default_factory=list, repr=False)  # same text elsewhere

    @property
    def title(self) -> str:
        """The heading, or the file name for a note's root."""
        return self.heading_path[-1] if self.heading_path else self.file

    @property
    def is_root(self) -> bool:
        return not self.heading_path

    @property
    def has_text(self) -> bool:
        return bool(self.text)

    @property
    def depth(self) -> int:
        return len(self.heading_path)


class Outline:
    """Every note's tree of sections, rebuilt from an index: its chunks, and its holders
    (headings that only hold sub-headings) for their lines. The notes are never read."""

    def __init__(self, chunks: Iterable[Chunk], holders: Iterable[Holder] = ()):
        self._holder_lines: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for h in holders:
            self._holder_lines.setdefault((h.file, h.heading_path), []).append(h.line)
        windows: dict[tuple[str, int], list[tuple[Chunk, Location]]] = {}
        for chunk in chunks:
            for loc in chunk.locations:
                windows.setdefault((loc.file, loc.section_line), []).append((chunk, loc))
        self._sections: dict[tuple[str, int], OutlineSection] = {}
        self._roots: dict[str, OutlineSection] = {}
        per_file: dict[str, list[OutlineSection]] = {}
        for (file, line), parts in windows.items():
            parts.sort(key=lambda pair: (pair[0].part, pair[1].start_line))
            first_chunk, first_loc = parts[0]
            section = OutlineSection(
                file=file,
                heading_path=first_loc.heading_path,
                line=line,
                end_line=max(loc.end_line for _, loc in parts),
                text="\n\n".join(chunk.text for chunk, _ in parts if chunk.text),
                answered=any(chunk.answered for chunk, _ in parts),
                places=[
                    other
                    for other in first_chunk.locations
                    if (other.file, other.section_line) != (file, line)
                ],
            )
            self._sections[(file, line)] = section
            per_file.setdefault(file, []).append(section)
        for file, sections in per_file.items():
            sections.sort(key=lambda s: s.line)
            self._roots[file] = self._tree(file, sections)

    def _tree(self, file: str, sections: list[OutlineSection]) -> OutlineSection:
        root = OutlineSection(file, (), 1, sections[-1].end_line if sections else 1)
        stack = [root]
        for section in sections:
            path = section.heading_path
            while len(stack) > 1 and not (
                len(stack[-1].heading_path) < len(path)
                and path[: len(stack[-1].heading_path)] == stack[-1].heading_path
            ):
                stack.pop()
            # Headings that only hold sub-headings have no chunk: add them here.
            for depth in range(len(stack[-1].heading_path) + 1, len(path)):
                # the nearest such heading above (a note may repeat a heading)
                above = [
                    n for n in self._holder_lines.get((file, path[:depth]), []) if n < section.line
                ]
                line = max(above) if above else None
                holder = OutlineSection(
                    file,
                    path[:depth],
                    line or section.line,
                    section.end_line,
                    line_known=line is not None,
                )
                self._adopt(stack[-1], holder)
                stack.append(holder)
            self._adopt(stack[-1], section)
            stack.append(section)
            for holder in stack:
                holder.end_line = max(holder.end_line, section.end_line)
        return root

    @staticmethod
    def _adopt(parent: OutlineSection, child: OutlineSection) -> None:
        child.parent = parent
        parent.children.append(child)

    # ------------------------------------------------------------------ lookups

    @classmethod
    def of(cls, index: Index) -> Outline:
        """The outline of an index's notes."""
        return cls(index.chunks, read_outline(index))

    @property
    def files(self) -> list[str]:
        return sorted(self._roots)

    def root(self, file: str) -> OutlineSection | None:
        """The note itself: its top sections are the root's children."""
        return self._roots.get(file)

    def find(self, file: str, line: int) -> OutlineSection | None:
        """The section whose heading is at ``line`` of ``file`` (its ``section_line``)."""
        return self._sections.get((file, line))

    def section_of(self, chunk: Chunk, place: int = 0) -> OutlineSection:
        """The whole section a chunk (or window) belongs to, at one of its places."""
        loc = chunk.locations[place]
        section = self.find(loc.file, loc.section_line)
        if section is None:
            raise KeyError(f"{loc.file}:{loc.section_line} is not in this outline")
        return section

    def siblings(self, section: OutlineSection) -> list[OutlineSection]:
        """The sections beside this one under the same parent (itself included)."""
        if section.parent is None:
            return [self._roots[f] for f in self.files]
        return section.parent.children

    def next(self, section: OutlineSection) -> OutlineSection | None:
        return self._step(section, +1)

    def previous(self, section: OutlineSection) -> OutlineSection | None:
        return self._step(section, -1)

    def _step(self, section: OutlineSection, step: int) -> OutlineSection | None:
        siblings = self.siblings(section)
        i = next(n for n, s in enumerate(siblings) if s is section) + step
        return siblings[i] if 0 <= i < len(siblings) else None
