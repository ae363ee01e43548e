"""Which notes of a folder are indexed: ``.qaignore``, ``--include`` / ``--exclude`` and,
in a git repository, what ``.gitignore`` ignores.

Every rule uses gitignore syntax (the ``pathspec`` package): ``drafts/``, ``*.zh.md``,
``archive/**``, ``!keep.md``. A note is indexed unless

- ``<notes>/.qaignore`` ignores it,
- an ``--exclude`` pattern matches it,
- ``--include`` patterns were given and none matches it, or
- the folder lies in a git repository and git would ignore it (the ``.gitignore`` files
  from the repository's top down to the note's folder, and ``.git/info/exclude``; a
  deeper file overrides a shallower one, the last matching line of a file wins, and a
  note in an ignored folder is ignored, as git does). ``gitignore = false`` in
  ``[settings.default]`` of qa.toml turns this off.

Paths are those ``find_notes`` gives: relative to the notes folder, with forward slashes.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.settings import Settings
from qa.store.notes import CorpusError, NoteStat, Problem, find_notes

if TYPE_CHECKING:
    import pathspec

QAIGNORE = ".qaignore"
GITIGNORE = ".gitignore"


def _spec(lines: Iterable[str], where: str) -> pathspec.GitIgnoreSpec:
    import pathspec  # here: opening an index without building never reads the rules

    try:
        return pathspec.GitIgnoreSpec.from_lines(list(lines))
    except ValueError as err:  # pathspec's GitWildMatchPatternError is a ValueError
        raise CorpusError(f"{where}: {err}") from None


def _read_lines(path: Path) -> list[str] | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None


def git_root(folder: Path) -> Path | None:
    """The top of the git repository ``folder`` lies in, or None."""
    folder = folder.resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


class GitIgnores:
    """What git ignores below ``root`` (a repository's top), read from its ignore files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self._dirs: dict[str, bool] = {}
        exclude = _read_lines(root / ".git" / "info" / "exclude")
        self._info = _spec(exclude, str(root / ".git/info/exclude")) if exclude else None

    def _spec_of(self, directory: str) -> pathspec.GitIgnoreSpec | None:
        if directory not in self._specs:
            path = self.root / directory / GITIGNORE if directory else self.root / GITIGNORE
            lines = _read_lines(path)
            self._specs[directory] = _spec(lines, str(path)) if lines else None
        return self._specs[directory]

    def _matches(self, path: str, is_dir: bool) -> bool:
        parts = path.split("/")
        name = path + "/" if is_dir else path
        # Deepest ignore file first: the first that has an opinion decides.
        for depth in range(len(parts) - 1, -1, -1):
            directory = "/".join(parts[:depth])
            spec = self._spec_of(directory)
            if spec is None:
                continue
            relative = name[len(directory) + 1 :] if directory else name
            result = spec.check_file(relative).include
            if result is not None:
                return result
        return bool(self._info is not None and self._info.check_file(name).include)

    def _dir_ignored(self, directory: str) -> bool:
        if not directory:
            return False
        if directory not in self._dirs:
            parent = directory.rpartition("/")[0]
            self._dirs[directory] = self._dir_ignored(parent) or self._matches(directory, True)
        return self._dirs[directory]

    def ignores(self, path: str) -> bool:
        """Whether git ignores the file ``path`` (relative to the repository's top)."""
        return self._dir_ignored(path.rpartition("/")[0]) or self._matches(path, False)


class NoteSelection:
    """The rules for one notes folder; ``keeps`` says whether a note is indexed and
    counts those it leaves out in ``skipped``."""

    def __init__(self, corpus: Path, settings: Settings) -> None:
        corpus = Path(corpus)
        self.skipped = 0
        lines = _read_lines(corpus / QAIGNORE)
        self._qaignore = _spec(lines, str(corpus / QAIGNORE)) if lines else None
        self._exclude = _spec(settings.exclude, "--exclude") if settings.exclude else None
        self._include = _spec(settings.include, "--include") if settings.include else None
        self._git: GitIgnores | None = None
        self._prefix = ""
        root = git_root(corpus) if settings.gitignore else None
        if root is not None:
            self._git = GitIgnores(root)
            inside = corpus.resolve().relative_to(root).as_posix()
            self._prefix = "" if inside == "." else inside + "/"

    def keeps(self, path: str) -> bool:
        kept = not (
            (self._qaignore is not None and self._qaignore.match_file(path))
            or (self._exclude is not None and self._exclude.match_file(path))
            or (self._include is not None and not self._include.match_file(path))
            or (self._git is not None and self._git.ignores(self._prefix + path))
        )
        if not kept:
            self.skipped += 1
        return kept


def select_notes(corpus: Path, settings: Settings) -> tuple[list[NoteStat], list[Problem], int]:
    """The notes of ``corpus`` that the rules keep, problems met, and how many the rules
    left out."""
    selection = NoteSelection(corpus, settings)
    stats, problems = find_notes(corpus, follow_links=settings.follow_links, keep=selection.keeps)
    return stats, problems, selection.skipped


def selection_fingerprint(corpus: Path, settings: Settings) -> dict[str, Any] | None:
    """What the index records of the rules, or None for the defaults (no .qaignore, no
    patterns, .gitignore honoured), so that older indexes stay fresh."""
    qaignore = None
    with contextlib.suppress(OSError):
        qaignore = hashlib.sha1((Path(corpus) / QAIGNORE).read_bytes()).hexdigest()
    if qaignore is None and not settings.include and not settings.exclude and settings.gitignore:
        return None
    return {
        "include": list(settings.include),
        "exclude": list(settings.exclude),
        "qaignore": qaignore,
        "gitignore": settings.gitignore,
    }
