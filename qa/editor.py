"""Which command opens a note at a line: $VISUAL, $EDITOR, else nano or vi."""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path

FALLBACK_EDITORS = ("nano", "vim", "vi")
# Editors that take ``path:line`` instead of ``+line path``.
_GOTO_FLAG = {"code", "code-insiders", "codium", "cursor"}
_PATH_COLON_LINE = {"subl", "zed", "hx", "helix"}


def _chosen(env: Mapping[str, str]) -> tuple[str, str] | None:
    """The variable that names the user's editor, and its value."""
    for name in ("VISUAL", "EDITOR"):
        if env.get(name):
            return name, env[name]
    return None


def _runnable(value: str, path: str | None) -> list[str]:
    try:
        argv = shlex.split(value)
    except ValueError:
        return []
    if not argv:
        return []
    return argv if shutil.which(argv[0], path=path) else []


def editor_problem(
    environ: Mapping[str, str] | None = None, search: str | None = None
) -> str | None:
    """Why the editor the user chose cannot be used, or None (also when none is chosen)."""
    env = os.environ if environ is None else environ
    chosen = _chosen(env)
    if chosen is None or _runnable(chosen[1], search):
        return None
    return f"${chosen[0]} is set to {chosen[1]!r}, which cannot be run"


def editor_command(
    path: Path, line: int, environ: Mapping[str, str] | None = None, search: str | None = None
) -> list[str] | None:
    """The command that opens ``path`` at ``line``: the user's $VISUAL or $EDITOR, or
    nano, vim or vi when that is unset or cannot be run; None when there is none.
    ``search`` is the PATH to look commands up in (default: the process's)."""
    env = os.environ if environ is None else environ
    chosen = _chosen(env)
    argv = _runnable(chosen[1], search) if chosen else []
    if not argv:
        found = next((e for e in FALLBACK_EDITORS if shutil.which(e, path=search)), None)
        argv = [shutil.which(found, path=search) or found] if found else []  # a full path
    if not argv:
        return None
    name = Path(argv[0]).name
    line = max(1, line)
    if name in _GOTO_FLAG:
        return [*argv, "--goto", f"{path}:{line}"]
    if name in _PATH_COLON_LINE:
        return [*argv, f"{path}:{line}"]
    return [*argv, f"+{line}", str(path)]
