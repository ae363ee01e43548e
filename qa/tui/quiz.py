"""The drill screen of ``qa quiz``: a card's front, an optional typed answer, the back.

``QuizScreen`` runs on a ``qa.study.quiz_store.Drill`` (the core decides what is due and
stores every grade); it is pushed by the chat app (F2) and is the only screen of the
small ``QuizApp`` that ``qa quiz`` starts.

Keys: while the answer box has the focus every letter and digit goes into it, so typing
an answer never fires a grade. Enter, ctrl+space, or space in an empty box reveals the
back; the box is then closed, and 1–4 grade, ``o`` opens the note, ``s`` skips, ``x``
suspends. Escape leaves the box without revealing (then ``s``, ``x``, ``o`` and space
work too).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from qa.display import safe_text
from qa.lang.glossary import Glossary
from qa.retrieve.passage import highlight_pattern, protect_math
from qa.study.quiz import QuizCard, answer_coverage, answering_sentences
from qa.study.quiz_store import RATINGS, Drill
from qa.tui.messages import EditNote
from qa.tui.widgets import HighlightedMarkdown


class AnswerInput(Input):
    """Where the user may type an answer; space in an empty box reveals the back."""

    class Reveal(Message):
        """Show the back of the card."""

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "space" and not self.value:
            event.stop()
            event.prevent_default()
            self.post_message(self.Reveal())
            return
        await super()._on_key(event)


class QuizScreen(Screen[None]):
    """One card at a time: front, optional answer, back, grade."""

    DEFAULT_CSS = """
    QuizScreen { layout: vertical; }
    #quiz-status { height: 1; padding: 0 1; background: $panel; color: $text; }
    #quiz-body { height: 1fr; padding: 1 2; }
    #quiz-front { text-style: bold; margin-bottom: 1; }
    #quiz-where { color: $text-muted; margin-bottom: 1; }
    #quiz-back { margin-top: 1; border: round $primary; padding: 0 1; }
    #quiz-coverage { margin-top: 1; color: $text-accent; }
    #quiz-empty { margin-top: 1; text-style: italic; }
    .markdown--highlight { background: $warning 30%; text-style: bold; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+space", "reveal", "Reveal", priority=True),
        Binding("space", "reveal", "Reveal", show=False),
        Binding("1", "grade(1)", "Again"),
        Binding("2", "grade(2)", "Hard"),
        Binding("3", "grade(3)", "Good"),
        Binding("4", "grade(4)", "Easy"),
        Binding("o", "open_note", "Open note"),
        Binding("s", "skip", "Skip"),
        Binding("x", "suspend", "Suspend"),
        Binding("escape", "leave", "Leave box / back"),
    ]

    def __init__(self, drill: Drill, glossary: Glossary | None = None) -> None:
        super().__init__()
        self.drill = drill
        self.glossary = glossary
        self.revealed = False
        self.coverage_text = ""
        self.card: QuizCard | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="quiz-status")
        with VerticalScroll(id="quiz-body"):
            yield Static(id="quiz-front")
            yield Static(id="quiz-where")
            yield AnswerInput(
                placeholder="Type your answer (optional), then Enter — or space to reveal",
                id="quiz-answer",
                select_on_focus=False,
            )
            yield Static(id="quiz-coverage")
            yield HighlightedMarkdown("", id="quiz-back")
            yield Static(id="quiz-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.show(self.drill.refresh())
        self.set_interval(20, self._poll_due)

    # ---------------------------------------------------------------- state

    @property
    def answer_box(self) -> AnswerInput:
        return self.query_one("#quiz-answer", AnswerInput)

    def show(self, card: QuizCard | None) -> None:
        """Show ``card``'s front (or the empty state) with the answer box ready."""
        self.card = card
        self.revealed = False
        self.coverage_text = ""
        front = self.query_one("#quiz-front", Static)
        where = self.query_one("#quiz-where", Static)
        empty = self.query_one("#quiz-empty", Static)
        back = self.query_one("#quiz-back", HighlightedMarkdown)
        box = self.answer_box
        back.display = False
        self.query_one("#quiz-coverage", Static).update("")
        box.value = ""
        if card is None:
            front.update("Nothing due.")
            where.update("")
            empty.update(self.empty_text())
            box.display = False
        else:
            front.update(safe_text(card.front))
            marks = [
                m
                for m, on in (
                    ("generated front", card.generated),
                    ("changed since you last saw it", self.drill.is_changed(card)),
                    ("a question you asked", card.source == "asked"),
                )
                if on
            ]
            path = " › ".join(card.section.heading_path)
            where.update(
                safe_text(f"{card.file}:{card.line} › {path}" + "".join(f"  · {m}" for m in marks))
            )
            empty.update("")
            box.display = True
            box.disabled = False
            box.focus()
        self.refresh_status()
        self.refresh_bindings()

    def empty_text(self) -> str:
        when = self.drill.next_due()
        if when is None:
            return "No cards to drill here: your notes have no answered question headings" + (
                " in this selection." if self.drill.paths or self.drill.lang else "."
            )
        return f"The next card is due {describe_time(when, self.drill.clock())}."

    def refresh_status(self) -> None:
        counts = self.drill.counts()
        parts = [f"due today {counts.due}", f"new {counts.new}", f"done {counts.done}"]
        filters = [*self.drill.paths, *([self.drill.lang] if self.drill.lang else [])]
        text = "Quiz · " + " · ".join(parts) + (f"   ({', '.join(filters)})" if filters else "")
        self.query_one("#quiz-status", Static).update(safe_text(text))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "grade":
            return self.card is not None and self.revealed
        if action in ("reveal", "skip", "suspend", "open_note"):
            return not (self.card is None or (action == "reveal" and self.revealed))
        return True

    # ---------------------------------------------------------------- actions

    def on_answer_input_reveal(self, message: AnswerInput.Reveal) -> None:
        message.stop()
        self.action_reveal()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_reveal()

    def action_reveal(self) -> None:
        card = self.card
        if card is None or self.revealed:
            return
        self.revealed = True
        typed = self.answer_box.value.strip()
        self.answer_box.disabled = True  # from now on keys are the screen's: 1–4, o, s, x
        self.set_focus(None)
        back = self.query_one("#quiz-back", HighlightedMarkdown)
        sentences = answering_sentences(card.front, card.back)
        back.highlight_pattern = highlight_pattern(sentences) if sentences else None
        back.update(safe_text(protect_math(card.back)))
        back.display = True
        if typed:
            self.query_one("#quiz-coverage", Static).update("Comparing your answer with the notes…")
            self._compare(card, typed)
        self.refresh_bindings()

    @work(thread=True, exclusive=True, group="coverage")
    def _compare(self, card: QuizCard, typed: str) -> None:
        from qa.lang.dictionary import load_dictionary

        coverage = answer_coverage(typed, card.back, self.glossary, load_dictionary())
        said = ", ".join(coverage.covered) or "none"
        missed = ", ".join(coverage.missed) or "none"
        text = f"Your answer covers: {said}\nThe notes also say: {missed}\n(a hint, not a grade)"
        self.app.call_from_thread(self._show_coverage, card, text)

    def _show_coverage(self, card: QuizCard, text: str) -> None:
        if card is self.card and self.revealed:
            self.coverage_text = text
            self.query_one("#quiz-coverage", Static).update(safe_text(text))

    def action_grade(self, rating: int) -> None:
        if self.card is None or not self.revealed:
            return
        review = self.drill.grade(rating)  # committed before the next card is shown
        if review is not None:
            self.notify(
                f"{RATINGS[rating]}: due again {describe_time(review.due, self.drill.clock())}",
                timeout=3,
            )
        self.show(self.drill.current)

    def action_skip(self) -> None:
        self.drill.skip()
        self.show(self.drill.current)

    def action_suspend(self) -> None:
        if self.card is not None:
            self.notify("Suspended: this card will not be shown again.", timeout=3)
        self.drill.suspend()
        self.show(self.drill.current)

    def action_open_note(self) -> None:
        card = self.card
        if card is None:
            return
        self.post_message(EditNote(card.file, card.line))

    def action_leave(self) -> None:
        if self.answer_box.has_focus:
            self.set_focus(None)
        elif len(self.app.screen_stack) > 1:
            self.dismiss(None)
        else:
            self.app.exit()

    def _poll_due(self) -> None:
        """When nothing was due, show a card as soon as one is."""
        if self.card is None and self.drill.refresh() is not None:
            self.show(self.drill.current)
        else:
            self.refresh_status()


def describe_time(when: datetime, now: datetime) -> str:
    """``at 14:05 (in 10 min)``, ``tomorrow at 09:00``, ``on 2026-12-09 (in 8 days)``."""
    local, here = when.astimezone(), now.astimezone()
    seconds = (when - now).total_seconds()
    if seconds <= 60:
        return "now"
    if seconds < 3600:
        rel = f"in {round(seconds / 60)} min"
    elif seconds < 86400:
        rel = f"in {round(seconds / 3600)} h"
    else:
        rel = f"in {round(seconds / 86400)} days"
    days = (local.date() - here.date()).days
    if days == 0:
        return f"at {local:%H:%M} ({rel})"
    if days == 1:
        return f"tomorrow at {local:%H:%M} ({rel})"
    return f"on {local:%Y-%m-%d} ({rel})"


class QuizApp(App[None]):
    """``qa quiz``: the drill screen on its own."""

    TITLE = "qa quiz"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(
        self,
        drill: Drill,
        corpus: Path,
        glossary: Glossary | None = None,
        follow_links: bool = False,
    ) -> None:
        super().__init__()
        self.drill = drill
        self.corpus = Path(corpus).resolve()
        self.glossary = glossary
        self.follow_links = follow_links

    def get_default_screen(self) -> Screen[Any]:
        return QuizScreen(self.drill, self.glossary)

    def notify(self, message: str, *, title: str = "", markup: bool = False, **kw: Any) -> None:
        super().notify(safe_text(message), title=safe_text(title), markup=markup, **kw)

    def on_edit_note(self, message: EditNote) -> None:
        self.edit_note(message.file, message.line)

    def edit_note(self, file: str, line: int) -> None:
        """Open the note at ``line`` in $EDITOR (the app is suspended meanwhile)."""
        from qa.tui.editor import note_editor

        command, notice = note_editor(self.corpus, file, line, self.follow_links)
        if notice is not None:
            self.notify(notice.text, severity=notice.severity, timeout=notice.timeout)
        if command is not None:
            self.run_editor(command)

    def run_editor(self, command: list[str]) -> None:
        """(Tests replace it, to see the command without running it.)"""
        from qa.tui.editor import run_in_editor

        run_in_editor(self, command)
