"""Finding and reading the Markdown notes of a corpus folder."""

from __future__ import annotations

import hashlib
import os
import stat as stat_
from collections.abc import Callable
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


def find_notes(
    folder: Path, follow_links: bool = False, keep: Callable[[str], bool] | None = None
) -> tuple[list[NoteStat], list[Problem]]:
    """Every Markdown file under ``folder``, recursively, in a stable order.

    ``keep`` (qa.store.selection) is asked of each note's relative path; it may leave it out.

    Hidden folders (``.git``, ``.obsidian``) are skipped. Symbolic links are followed
    while they stay inside ``folder``; one that leads outside it (``/etc/passwd``, a
    folder elsewhere) is skipped with a warning, unless ``follow_links`` — a notes
    folder someone else wrote must not be able to index your files. Folders are
    visited once, so a link loop cannot recurse forever.
    """
    folder = Path(folder)
    if not folder.exists():
        raise CorpusError(f"notes folder not found: {folder}")
    if not folder.is_dir():
        raise CorpusError(f"not a folder: {folder}")
    root = folder.resolve()
    found: list[NoteStat] = []
    problems: list[Problem] = []
    seen_dirs: set[tuple[int, int]] = set()

    def on_error(err: OSError) -> None:
        where = Path(err.filename) if err.filename else folder
        problems.append(Problem(_relative(where, folder), f"cannot list folder ({err.strerror})"))

    def leaves(path: Path) -> bool:
        """A symbolic link that leads outside the notes folder (and may not be followed)."""
        if follow_links or not path.is_symlink():
            return False
        if is_inside(path.resolve(), root):
            return False
        problems.append(Problem(_relative(path, folder), OUTSIDE_LINK))
        return True

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
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and not leaves(Path(dirpath) / d)
        )
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(NOTE_SUFFIXES):
                continue
            full = Path(dirpath) / name
            rel = _relative(full, folder)
            if keep is not None and not keep(rel):
                continue
            try:
                fst = full.stat()
            except OSError as err:
                problems.append(Problem(rel, f"cannot read ({err.strerror}); skipped"))
                continue
            if not full.is_file() or leaves(full):
                continue
            found.append(NoteStat(rel, fst.st_size, fst.st_mtime_ns))
    found.sort(key=lambda s: s.path)
    return found, problems


OUTSIDE_LINK = (
    "symbolic link to a place outside the notes folder; skipped "
    "(follow_links = true in [settings.default] of qa.toml indexes it)"
)


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (both already resolved)."""
    return path == folder or folder in path.parents


def is_relative_note_path(relative: str) -> bool:
    """Whether ``relative`` is a path as find_notes gives them: relative, with forward
    slashes, never climbing out with ``..``."""
    parts = relative.split("/")
    return (
        bool(relative)
        and not relative.startswith("/")
        and "\x00" not in relative
        and (".." not in parts)
    )


def note_path(folder: Path, relative: str, follow_links: bool = False) -> Path | None:
    """Where the note ``relative`` (as an index records it) is, or None when that is not a
    plain path inside ``folder``: absolute, climbing out with ``..``, or a symbolic link
    leading outside (unless ``follow_links``)."""
    if not is_relative_note_path(relative):
        return None
    path = Path(folder) / relative
    if not follow_links and not is_inside(path.resolve(), Path(folder).resolve()):
        return None
    return path


def read_note(folder: Path, stat: NoteStat) -> tuple[Note | None, Problem | None]:
    """Read and decode one note; a note that cannot be used gives a Problem instead.

    The size that counts is what was read: procfs files, say, report a size of 0.
    """
    path = Path(folder) / stat.path
    limit = f"{MAX_NOTE_BYTES // 2**20} MB"
    if stat.size > MAX_NOTE_BYTES:
        mb = stat.size / 1024 / 1024
        return None, Problem(stat.path, f"too large ({mb:.0f} MB > {limit}); skipped")
    try:
        raw = read_limited(path, MAX_NOTE_BYTES)
    except NotRegularFile:
        return None, Problem(stat.path, "not a regular file; skipped")
    except OSError as err:
        return None, Problem(stat.path, f"cannot read ({err.strerror}); skipped")
    if raw is None:
        return None, Problem(stat.path, f"too large (more than {limit}); skipped")
    text, problem = decode_note(raw, stat.path)
    if text is None:
        return None, problem
    note = Note(stat.path, text, hashlib.sha256(raw).hexdigest())
    return note, problem


class NotRegularFile(OSError):
    """A FIFO, a device or a socket where a note was expected."""


def read_limited(path: Path, limit: int) -> bytes | None:
    """The bytes of the regular file ``path``, or None when it holds more than ``limit``.

    Opened without blocking, so a FIFO named ``x.md`` cannot stall a build.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat_.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(f"not a regular file: {path}")
        raw = f.read(limit + 1)
    return None if len(raw) > limit else raw


_UTF16_BOMS = ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def decode_note(raw: bytes, path: str) -> tuple[str | None, Problem | None]:
    """UTF-8 (with or without BOM) is the norm; UTF-16 with a BOM is read as such;
    GB18030 is accepted with a warning."""
    for bom, codec in _UTF16_BOMS:
        if raw.startswith(bom) and len(raw) % 2 == 0:
            try:
                text = raw[len(bom) :].decode(codec)
            except UnicodeDecodeError:
                break
            if "\x00" not in text:
                return normalise_newlines(text), None
            break
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
