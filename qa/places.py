"""Where qa keeps what belongs to one notes folder, outside the folder and the package.

Per-folder state (question history, quiz reviews) lives under the user's state
directory, in a sub-folder named after the notes folder and a hash of its full path,
so two folders called ``notes`` never share it. platformdirs picks the directory each
platform expects (``$XDG_STATE_HOME/qa`` on Linux).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import platformdirs

APP = "qa"


def folder_key(corpus: Path) -> str:
    """``<folder name>-<8 hex digits of its resolved path>``: stable, readable, unique."""
    corpus = corpus.resolve()
    digest = hashlib.sha1(str(corpus).encode()).hexdigest()[:8]
    return f"{corpus.name or 'notes'}-{digest}"


def cache_root() -> Path:
    """The user cache directory of qa (``$XDG_CACHE_HOME/qa`` on Linux): indexes of user
    folders, model graphs, the parsed dictionary."""
    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def state_root() -> Path:
    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def state_dir(corpus: Path) -> Path:
    """Where state about ``corpus`` lives (not created here)."""
    return state_root() / "folders" / folder_key(corpus)


def history_path(corpus: Path) -> Path:
    """The questions asked about ``corpus``, from the chat app and ``qa ask``."""
    return state_dir(corpus) / "history.jsonl"
