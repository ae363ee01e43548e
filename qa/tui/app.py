"""The chat TUI: ask questions, read answer cards, browse results and sections.

``QAApp`` is the frame: it starts the chat screen (qa.tui.chat) with the index
controller (qa.tui.index_controller), routes typing to the question box, and carries out
what screens and widgets ask by message: open a section, a note in $EDITOR, the Gaps and
Quiz screens; copy a passage. Everything slow runs in thread workers of the controller
and the chat screen; the input is usable at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from qa import places
from qa.display import safe_text
from qa.tui.chat import ChatScreen
from qa.tui.index_controller import FRESHNESS_SECONDS, IndexController
from qa.tui.messages import (
    AddToQuiz,
    CopyChunk,
    CopyText,
    EditChunk,
    EditNote,
    IndexOpened,
    OpenSection,
)
from qa.tui.widgets import HistoryInput

if TYPE_CHECKING:
    from qa.library import Library
    from qa.retrieve.search import Searcher
    from qa.settings import Settings


class QAApp(App[None]):
    """``qa``'s chat screen over one notes folder and its index."""

    TITLE = "qa · ask your notes"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+b", "rebuild", "Rebuild"),
        Binding("f2", "quiz", "Quiz", show=False),  # in the palette; the footer is kept as it was
        Binding("ctrl+t", "toggle_theme", "Light/dark"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]
    # What runs the index; tests put one in that holds or breaks a reload.
    index_controller: ClassVar[type[IndexController]] = IndexController

    def __init__(
        self,
        corpus: Path,
        index_dir: Path,
        settings: Settings,
        *,
        searcher: Searcher | None = None,
        history_path: Path | None = None,
        freshness_seconds: float = FRESHNESS_SECONDS,
        quiz_path: Path | None = None,
    ) -> None:
        """``searcher``: an index already open (tests); else the index is opened, or
        built when missing, in a worker. ``history_path``: where questions are kept
        between sessions (None: only in memory). ``quiz_path``: the review file of
        ``qa quiz`` (F2; None: no quiz)."""
        super().__init__()
        from qa.library import Library

        self.lib = Library(Path(corpus).resolve(), Path(index_dir), settings)
        self.sub_title = safe_text(self.lib.corpus.name, one_line=True)
        self.index = self.index_controller(
            self.lib, searcher=searcher, freshness_seconds=freshness_seconds
        )
        self._history_path = history_path
        self._quiz_path = quiz_path

    def get_default_screen(self) -> Screen[Any]:
        return ChatScreen(self.index, self._history_path)

    @property
    def chat(self) -> ChatScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, ChatScreen)
        return screen

    def notify(self, message: str, *, title: str = "", **kwargs: Any) -> None:
        """A notification; its text may name notes and hold errors from them, so it is
        made safe to show (qa.display) and never read as markup (whoever sends it)."""
        kwargs["markup"] = False
        super().notify(safe_text(message), title=safe_text(title), **kwargs)

    async def on_event(self, event: events.Event) -> None:
        """On the chat screen a printable key or a paste always goes to the question
        box, never to the bindings of a focused card, row or results list. Other
        screens (the section viewer, the command palette) keep their keys."""
        on_chat = bool(self.screen_stack) and isinstance(self.screen, ChatScreen)
        if (
            on_chat
            and isinstance(event, events.Key)
            and event.key == "question_mark"
            and not self.screen.query_one(HistoryInput).value
        ):
            event.stop()  # ? in an empty question box is a request for help, not text
            self.action_help()
            return
        if (
            on_chat
            and isinstance(event, events.Key | events.Paste)
            and not event.is_forwarded
            and (isinstance(event, events.Paste) or event.is_printable)
        ):
            self.chat.take_typing()
        await super().on_event(event)

    def focus_question(self) -> None:
        """Give the question box focus again when the chat screen is showing (after
        the editor, a copy, the section viewer)."""
        if self.screen_stack and isinstance(self.screen, ChatScreen):
            self.screen.action_focus_input()

    # ------------------------------------------------------------------ keys and palette

    def action_help(self) -> None:
        """qa's own keys and commands (qa.tui.help), over whatever screen is showing."""
        from qa.tui.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_rebuild(self, full: bool = False) -> None:
        self.index.rebuild(full)

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Rebuild index",
            "Re-read the notes and update the index (ctrl+b)",
            self.action_rebuild,
        )
        yield SystemCommand(
            "Rebuild index from scratch",
            "Re-embed every section, not only what changed",
            lambda: self.action_rebuild(full=True),
        )
        yield SystemCommand(
            "Check notes for changes",
            "Compare the notes with the index now",
            self.index.check_freshness,
        )
        yield SystemCommand(
            "Toggle light/dark theme",
            "Switch between light and dark (ctrl+t)",
            self.action_toggle_theme,
        )
        yield SystemCommand(
            "Quiz: drill your notes",
            "Questions from your notes, with spaced repetition (F2)",
            self.action_quiz,
        )
        yield SystemCommand(
            "Gaps: what your notes ask but do not answer",
            "Empty headings and where the answer may already be (ctrl+g)",
            self.action_gaps,
        )
        if isinstance(screen, ChatScreen):
            yield SystemCommand(
                "Toggle results panel",
                "Show the top ten results of the latest question (ctrl+r)",
                screen.action_toggle_results,
            )
            yield SystemCommand(
                "Open best section",
                "Read the whole section of the latest answer (ctrl+o)",
                screen.action_open_best,
            )
            yield SystemCommand(
                "Clear conversation",
                "Remove every question and answer (ctrl+l)",
                screen.action_clear,
            )

    # ------------------------------------------------------------------ sections, editor, copy

    def on_open_section(self, message: OpenSection) -> None:
        from qa.tui.section import SectionScreen

        if self.index.outline is None:
            return
        try:
            section = self.index.outline.section_of(message.chunk)
        except KeyError:
            self.notify("That section is no longer in the index; rebuild it.", severity="warning")
            return
        self.push_screen(
            SectionScreen(self.index.outline, section, message.highlight),
            callback=lambda _: self.focus_question(),
        )

    def on_edit_chunk(self, message: EditChunk) -> None:
        loc = message.chunk.location
        self.edit_note(loc.file, loc.section_line or loc.start_line)

    def on_edit_note(self, message: EditNote) -> None:
        self.edit_note(message.file, message.line)

    def on_copy_chunk(self, message: CopyChunk) -> None:
        loc = message.chunk.location
        self.copy_passage(message.chunk.text, f"{loc.file}:{loc.start_line}")

    def on_copy_text(self, message: CopyText) -> None:
        self.copy_passage(message.text, message.where)

    def copy_passage(self, text: str, where: str) -> None:
        self.focus_question()
        if not text:
            self.notify("Nothing to copy: this heading has no text yet.", timeout=3)
            return
        self.copy_to_clipboard(text)
        lines = text.count("\n") + 1
        self.notify(f"Copied {lines} line{'s' * (lines != 1)} from {where}.", timeout=3)

    def edit_note(self, file: str, line: int) -> None:
        """Open the note in $EDITOR at ``line``; the app is suspended meanwhile."""
        from qa.tui.editor import note_editor

        self.focus_question()  # also when the editor cannot be run
        lib = self.lib
        command, notice = note_editor(lib.corpus, file, line, lib.settings.follow_links)
        if notice is not None:
            self.notify(notice.text, severity=notice.severity, timeout=notice.timeout)
        if command is not None:
            self.run_editor(command)
            self.index.poll()

    def run_editor(self, command: list[str]) -> None:
        """(Tests replace it, to see the command without running it.)"""
        from qa.tui.editor import run_in_editor

        run_in_editor(self, command)

    def action_gaps(self) -> None:
        """The Gaps screen: what the notes ask but do not answer (qa.tui.gaps)."""
        from qa.tui.gaps import GapsScreen

        if self.index.searcher is None:
            self.notify("The index is not open yet.", timeout=3)
        elif not any(isinstance(s, GapsScreen) for s in self.screen_stack):
            self.push_screen(GapsScreen(self.index.searcher, self._history_path))

    # ------------------------------------------------------------------ quiz

    def _quiz_store(self) -> Any:
        from qa.study.quiz_store import QuizStore, QuizStoreError

        if self._quiz_path is None:
            self.notify("The quiz has no review file here.", severity="warning")
            return None
        if self.index.searcher is None:
            self.notify("The index is still opening; try again in a moment.", timeout=3)
            return None
        try:
            return QuizStore(self._quiz_path)
        except QuizStoreError as err:
            self.notify(str(err), severity="error")
            return None

    def action_quiz(self) -> None:
        """Drill the notes (qa quiz) on a screen of its own; escape comes back."""
        from qa.study.quiz_store import open_drill
        from qa.tui.quiz import QuizScreen

        store = self._quiz_store()
        if store is None or self.index.searcher is None:
            return
        searcher = self.index.searcher
        self.push_screen(
            QuizScreen(open_drill(store, searcher.index.chunks), searcher.glossary),
            callback=lambda _: self.focus_question(),
        )

    def on_add_to_quiz(self, message: AddToQuiz) -> None:
        from qa.study.quiz_store import add_question

        store = self._quiz_store()
        if store is None or self.index.searcher is None:
            return
        chunks = self.index.searcher.index.chunks
        try:
            card = add_question(store, message.question, chunks, message.chunk)
        except ValueError as err:
            self.notify(str(err), severity="warning")
            return
        self.notify(f"Added to the quiz: {card.front} → {card.section.heading}", timeout=4)

    # ------------------------------------------------------------------ a newer index

    def on_index_opened(self, message: IndexOpened) -> None:
        """(Bubbled up from the chat screen.) The gaps may have changed with the index."""
        from qa.tui.gaps import GapsScreen

        for screen in self.screen_stack:
            if isinstance(screen, GapsScreen):
                screen.refresh_gaps(message.searcher)


def run_app(lib: Library) -> None:
    """Run the chat TUI until the user quits."""
    from qa.study.quiz_store import store_path

    QAApp(
        lib.corpus,
        lib.index_dir,
        lib.settings,
        history_path=places.history_path(lib.corpus),
        quiz_path=store_path(lib.corpus),
    ).run()
