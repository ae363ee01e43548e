"""Finding and reading the Markdown notes of a corpus folder."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

MAX_NOTE_BYTES = 10 * 1024 * 1024
NOTE_SUFFIXES = (".md", ".markdown")


class CorpusError(Exception):
    """The corpus folder cannot be used at all (missing, not a folder, no notes)."""


@dataclass(frozen=True)
class Note:
    """One Markdown file, decoded to text with ``\\n`` line endings."""

    path: str  # relative to the corpus folder, with forward slashes
    text: str
    digest: str  # sha256 of the raw bytes


@dataclass(frozen=True)
class NoteStat:
    """What ``os.stat`` says of a note; enough to notice that it changed."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Problem:
    """A note that could not be read, or was read with a caveat."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def find_notes(folder: Path) -> tuple[list[NoteStat], list[Problem]]:
    """Every Markdown file under ``folder``, recursively, in a stable order.

    Hidden folders (``.git``, ``.obsidian``) are skipped; symbolic links are followed
    once, so a link loop cannot recurse forever.
    """
    folder = Path(folder)
    if not folder.exists():
        raise CorpusError(f"notes folder not found: {folder}")
    if not folder.is_dir():
        raise CorpusError(f"not a folder: {folder}")
    found: list[NoteStat] = []
    problems: list[Problem] = []
    seen_dirs: set[tuple[int, int]] = set()

    def on_error(err: OSError) -> None:
        where = Path(err.filename) if err.filename else folder
        problems.append(Problem(_relative(where, folder), f"cannot list folder ({err.strerror})"))

    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True, onerror=on_error):
        st = os.stat(dirpath)
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            problems.append(
                Problem(
                    _relative(Path(dirpath), folder),
                    "folder already visited (symlink loop?); skipped",
                )
            )
            dirnames[:] = []
            continue
        seen_dirs.add(key)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(NOTE_SUFFIXES):
                continue
            full = Path(dirpath) / name
            rel = _relative(full, folder)
            try:
                fst = full.stat()
            except OSError as err:
                problems.append(Problem(rel, f"cannot read ({err.strerror}); skipped"))
                continue
            if not full.is_file():
                continue
            found.append(NoteStat(rel, fst.st_size, fst.st_mtime_ns))
    found.sort(key=lambda s: s.path)
    return found, problems


def read_note(folder: Path, stat: NoteStat) -> tuple[Note | None, Problem | None]:
    """Read and decode one note; a note that cannot be used gives a Problem instead."""
    path = Path(folder) / stat.path
    if stat.size > MAX_NOTE_BYTES:
        mb = stat.size / 1024 / 1024
        return None, Problem(
            stat.path, f"too large ({mb:.0f} MB > {MAX_NOTE_BYTES // 2**20} MB); skipped"
        )
    try:
        raw = path.read_bytes()
    except OSError as err:
        return None, Problem(stat.path, f"cannot read ({err.strerror}); skipped")
    text, problem = decode_note(raw, stat.path)
    if text is None:
        return None, problem
    note = Note(stat.path, text, hashlib.sha256(raw).hexdigest())
    return note, problem


def decode_note(raw: bytes, path: str) -> tuple[str | None, Problem | None]:
    """UTF-8 (with or without BOM) is the norm; GB18030 is accepted with a warning."""
    if b"\x00" in raw[:8192]:
        return None, Problem(path, "looks like a binary file, not Markdown; skipped")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    problem = None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        where = f"byte {err.start}"
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            return None, Problem(path, f"not valid UTF-8 ({where}); skipped")
        problem = Problem(path, f"not valid UTF-8 ({where}); read as GB18030")
    return normalise_newlines(text), problem


def normalise_newlines(text: str) -> str:
    """CRLF and lone CR become LF, so line numbers match what editors show."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return path.as_posix()
