"""``qa ask --in PATH`` and the chat's ``/in PATH``: what part of the notes to search.

A path is a note or a folder, absolute or relative to the notes folder (or, when it is
not there, to the current folder, as a shell completes it). It becomes the note path the
index records (relative, forward slashes), which ``Searcher.search(within=...)`` takes.
"""

from __future__ import annotations

from pathlib import Path

from qa.store.notes import CorpusError


class ScopeError(CorpusError):
    """A path to search within that is not a note or folder of the notes."""


def resolve_within(corpus: Path, typed: str) -> str:
    """The note path (``"."`` for the whole folder) that ``typed`` names in ``corpus``."""
    root = Path(corpus).resolve()
    text = typed.strip()
    if not text:
        raise ScopeError("give a note or folder to search in, e.g. --in chapter1/")
    given = Path(text).expanduser()
    candidates = [given] if given.is_absolute() else [root / given, Path.cwd() / given]
    inside = [p for p in (c.resolve() for c in candidates) if p == root or root in p.parents]
    for path in inside:
        if path.exists():
            return path.relative_to(root).as_posix()
    if not inside:
        raise ScopeError(f"{typed} is not inside the notes folder {root}")
    raise ScopeError(f"no note or folder {typed} in {root}")


def describe(within: list[str] | tuple[str, ...]) -> str:
    """The filter as the status line and the results panel show it."""
    return ", ".join("(all notes)" if w == "." else w for w in within)
