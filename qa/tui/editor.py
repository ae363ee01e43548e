"""The editor command, for the chat app: it lives in the core (qa.editor), since
``qa open`` builds it too."""

from qa.editor import FALLBACK_EDITORS, editor_command, editor_problem

__all__ = ["FALLBACK_EDITORS", "editor_command", "editor_problem"]
