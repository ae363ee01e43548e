"""Opening a note in $EDITOR from a Textual app: which command, and handing it the terminal.

The command itself is the core's (qa.editor), since ``qa open`` builds it too. The chat
app and the quiz app both open notes this way.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.editor import FALLBACK_EDITORS, editor_command, editor_problem

if TYPE_CHECKING:
    from textual.app import App
    from textual.notifications import SeverityLevel

__all__ = [
    "FALLBACK_EDITORS",
    "Notice",
    "editor_command",
    "editor_problem",
    "note_editor",
    "run_in_editor",
]


@dataclass(frozen=True)
class Notice:
    """What to tell the user before (or instead of) opening the editor."""

    text: str
    severity: SeverityLevel = "error"
    timeout: float | None = None


def note_editor(
    corpus: Path, file: str, line: int, follow_links: bool
) -> tuple[list[str] | None, Notice | None]:
    """The command that opens note ``file`` of ``corpus`` at ``line``, and what to say
    first: ``(None, why not)`` when it cannot be opened, else ``(command, a warning or
    None)``."""
    from qa.store.notes import note_path

    # An index names its notes; a damaged one must not open /etc/passwd for editing.
    path = note_path(corpus, file, follow_links)
    if path is None:
        return None, Notice(f"{file} is not in {corpus}; not opening it.")
    if not path.is_file():
        return None, Notice(f"{file} is not in {corpus} any more.")
    command = editor_command(path, line)
    problem = editor_problem()
    if command is None:
        why = (
            f"{problem}, and neither nano nor vi is installed."
            if problem
            else "No editor found: set $EDITOR (for example `export EDITOR=nano`)."
        )
        return None, Notice(why, timeout=8)
    if problem:
        return command, Notice(
            f"{problem}; opening {Path(command[0]).name} instead.", severity="warning"
        )
    return command, None


def run_in_editor(app: App[Any], command: list[str]) -> None:
    """Suspend ``app``, run ``command`` until it exits; a failure is a notification."""
    from textual.app import SuspendNotSupported

    try:
        with app.suspend():
            done = subprocess.run(command, check=False)
    except SuspendNotSupported:
        app.notify("This terminal cannot hand over to an editor.", severity="error")
    except OSError as err:
        app.notify(
            f"The editor failed: cannot run {command[0]} ({err.strerror}).", severity="error"
        )
    else:
        if done.returncode:
            app.notify(
                f"The editor failed: {command[0]} exited with status {done.returncode}.",
                severity="warning",
            )
