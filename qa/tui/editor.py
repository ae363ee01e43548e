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


def editor_command(
    path: Path, line: int, environ: Mapping[str, str] | None = None
) -> list[str] | None:
    """The command that opens ``path`` at ``line``, or None when no editor can be found."""
    env = os.environ if environ is None else environ
    chosen = env.get("VISUAL") or env.get("EDITOR")
    argv: list[str] = []
    if chosen:
        try:
            argv = shlex.split(chosen)
        except ValueError:
            argv = []
    else:
        found = next((e for e in FALLBACK_EDITORS if shutil.which(e)), None)
        argv = [found] if found else []
    if not argv or shutil.which(argv[0]) is None:
        return None
    name = Path(argv[0]).name
    line = max(1, line)
    if name in _GOTO_FLAG:
        return [*argv, "--goto", f"{path}:{line}"]
    if name in _PATH_COLON_LINE:
        return [*argv, f"{path}:{line}"]
    return [*argv, f"+{line}", str(path)]
