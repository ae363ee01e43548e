"""How answers are worded on screen: breadcrumbs, confidence cues, snippets.

Plain functions over the core's result types, so they are easy to test and reuse.
Everything they return that comes from notes is made safe to show (qa.display).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from qa.display import safe_text

if TYPE_CHECKING:
    from qa.store.chunks import Chunk, Location

SEPARATOR = " › "


def place(location: Location, line: int | None = None) -> str:
    """``file.md:LINE``."""
    return safe_text(f"{location.file}:{location.start_line if line is None else line}", True)


def middle_cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut in the middle of its folders so that the
    end (the file name and ``:LINE``) stays: ``notes/ch…/deep-learning.md:12``. A name
    too long even for that loses its middle, and still ends with its line."""
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return text
    width = max(width, 2)
    head, slash, tail = text.rpartition("/")
    if slash and cell_len(tail) + 2 <= width:
        return _first_cells(head, width - cell_len(tail) - 2) + "…/" + tail
    keep_start = (width - 1) // 3
    return _first_cells(text, keep_start) + "…" + _last_cells(text, width - 1 - keep_start)


def _first_cells(text: str, cells: int) -> str:
    from rich.cells import cell_len

    out = ""
    for ch in text:
        if cell_len(out + ch) > cells:
            break
        out += ch
    return out


def _last_cells(text: str, cells: int) -> str:
    return _first_cells(text[::-1], cells)[::-1]


def breadcrumb(location: Location, line: int | None = None) -> str:
    """``file.md:LINE › H1 › H2``."""
    return SEPARATOR.join([place(location, line), *heading_names(location.heading_path)])


def section_breadcrumb(file: str, line: int, heading_path: Sequence[str]) -> str:
    return SEPARATOR.join([safe_text(f"{file}:{line}", True), *heading_names(heading_path)])


def heading_names(heading_path: Sequence[str]) -> list[str]:
    return [safe_text(h, one_line=True) for h in heading_path]


def also_in(chunk: Chunk) -> str:
    """Where else a section appears ("Also in b.md:12, c.md:40"), or ""."""
    others = [place(loc) for loc in chunk.locations[1:]]
    return f"Also in {', '.join(others)}" if others else ""


def snippet(text: str, width: int = 90) -> str:
    """The start of a passage on one line, Markdown markers and all, cut at a word."""
    flat = safe_text(" ".join(text.split()), one_line=True)
    if len(flat) <= width:
        return flat
    cut = flat[:width].rsplit(" ", 1)[0]
    return (cut if len(cut) > width // 2 else flat[:width]) + "…"


def status_reason(reason: str) -> str:
    """A freshness reason, shortened for the status line."""
    reason = safe_text(reason, one_line=True)
    return reason if len(reason) <= 60 else reason[:59] + "…"
