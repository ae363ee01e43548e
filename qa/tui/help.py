"""The help screen (F1, or ? in an empty question box): qa's own keys and commands, one
line each. Textual's generic keys stay in the command palette (ctrl+p → Keys)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

# (where, keys, what they do). ``keys`` as they are typed; tests/test_tui_newcomer.py
# checks that every binding of qa's chat and section screens is listed here.
HELP: tuple[tuple[str, str, str], ...] = (
    ("Chat", "enter", "ask the question typed in the box"),
    ("Chat", "up / down", "walk back and forth through earlier questions"),
    ("Chat", "/in PATH", "search only this note or folder (relative to the notes folder)"),
    ("Chat", "/in", "search all the notes again"),
    ("Chat", "ctrl+r", "show or hide the top results of the latest question"),
    ("Chat", "ctrl+o", "read the whole section of the latest answer"),
    ("Chat", "ctrl+y", "copy the latest answer's passage"),
    ("Chat", "ctrl+e", "edit the focused card's or result's note in $EDITOR, at its line"),
    ("Chat", "ctrl+n", "the latest answer: its answering sentences, or the passage"),
    ("Chat", "ctrl+k", "on a card: add its question to the quiz"),
    ("Chat", "f2", "quiz: drill the questions your notes answer"),
    ("Chat", "ctrl+g", "gaps: headings your notes ask but do not answer"),
    ("Chat", "tab / shift+tab", "move between cards and results (typing returns to the box)"),
    ("Chat", "escape", "back to the question box"),
    ("Chat", "pageup / pagedown", "scroll the conversation"),
    ("Chat", "ctrl+l", "clear the conversation"),
    ("Chat", "ctrl+b", "rebuild the index (only what changed is embedded again)"),
    ("Chat", "ctrl+t", "switch between the light and dark theme"),
    ("Chat", "ctrl+p", "command palette (rebuild from scratch, Textual's own keys…)"),
    ("Chat", "f1 / ?", "this help (? when the question box is empty)"),
    ("Chat", "ctrl+q", "quit"),
    ("Section", "[ / ]", "previous / next section at the same level"),
    ("Section", "p", "the parent section"),
    ("Section", "o", "edit the note in $EDITOR, at the section"),
    ("Section", "y", "copy the section"),
    ("Section", "escape / q", "back to the chat"),
)


def help_lines() -> list[tuple[str, str, str]]:
    return list(HELP)


class HelpScreen(ModalScreen[None]):
    """qa's keys and commands; any of escape, q, f1 or ? closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen .help-title {
        text-style: bold;
        color: $text-primary;
        margin: 0 0 1 0;
    }
    HelpScreen .help-group {
        text-style: bold;
        margin: 1 0 0 0;
    }
    HelpScreen .help-line {
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    HelpScreen .help-foot {
        color: $text-muted;
        margin: 1 0 0 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1,question_mark", "dismiss", "Close help"),
    ]

    def compose(self) -> ComposeResult:
        width = max(len(keys) for _, keys, _ in HELP) + 2
        with VerticalScroll():
            yield Static("qa · keys and commands", classes="help-title")
            group = ""
            for where, keys, what in HELP:
                if where != group:
                    group = where
                    title = "In the chat" if where == "Chat" else "Reading a section"
                    yield Static(title, classes="help-group")
                line = Content.assemble((keys.ljust(width), "bold $accent"), what)
                yield Static(line, classes="help-line")
            yield Static(
                "escape closes this · Textual's own keys: ctrl+p → Keys", classes="help-foot"
            )
