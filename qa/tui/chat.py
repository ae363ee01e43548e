"""The chat screen: the conversation, its question box, its status line.

The screen owns its turns (a question and the card that answers it): it searches in
thread workers, shows each answer, refines an answer given before every model was
ready, and keeps the questions in the history file (qa.study.history). The index comes from
the ``IndexController`` it mounts (qa.tui.index_controller), whose messages bubble up
here once the controller has kept its state: each one may let waiting questions go on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Input

from qa.display import safe_text
from qa.lang.text import HAN_CHAR
from qa.study import history
from qa.tui.index_controller import IndexController, one_line
from qa.tui.messages import (
    Answered,
    BuildProgress,
    BuildStarted,
    ChannelFailed,
    ChannelReady,
    FreshnessChecked,
    IndexChanged,
    IndexFailed,
    IndexOpened,
    SearchFailed,
)
from qa.tui.present import status_reason
from qa.tui.widgets import (
    AnswerCard,
    HistoryInput,
    QuestionBubble,
    RebuildBar,
    ResultsList,
    ResultsPanel,
    StatusLine,
    Welcome,
)

if TYPE_CHECKING:
    from pathlib import Path

    from textual.app import ComposeResult

    from qa.retrieve.search import Answer, Searcher

HISTORY_LIMIT = 500
NARROW = 100  # columns: below this the results panel overlays the transcript


@dataclass
class Turn:
    """One question and the card that answers it."""

    id: int
    question: str
    bubble: QuestionBubble
    card: AnswerCard
    answer: Answer | None = None
    pattern: re.Pattern[str] | None = None
    partial: bool = False  # answered before every channel was ready
    in_flight: bool = False
    recorded: bool = False  # in the question history, with whether it was declined
    within: tuple[str, ...] = ()  # the notes searched (/in); () is all of them


class ChatScreen(Screen[None]):
    """Transcript above, question input below, results panel on the right.

    Narrower than NARROW columns the screen has the class ``-narrow``: the results
    panel then lies over the transcript instead of squeezing the cards (app.tcss)."""

    # Textual declares it an instance variable, so it cannot be annotated ClassVar here.
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012
        (0, "-narrow"),
        (NARROW, "-wide"),
    ]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "toggle_results", "Results"),
        Binding("ctrl+o", "open_best", "Section"),
        Binding("ctrl+y", "copy_best", "Copy"),
        Binding("ctrl+n", "toggle_answer", "Answer / passage"),
        Binding("ctrl+g", "app.gaps", "Gaps"),
        Binding("ctrl+l", "clear", "Clear", show=False),
        Binding("escape", "focus_input", "Back to question", show=False),
        Binding("pageup", "page(-1)", "Scroll up", show=False),
        Binding("pagedown", "page(1)", "Scroll down", show=False),
    ]

    def __init__(self, index: IndexController, history_path: Path | None = None) -> None:
        """``history_path``: where questions are kept between sessions (None: only in
        memory)."""
        super().__init__()
        self.index = index
        self.turns: dict[int, Turn] = {}
        self.within: tuple[str, ...] = ()  # /in PATH: search only there (qa.retrieve.scope)
        self._next_turn = 1
        self._history_path = history_path

    def compose(self) -> ComposeResult:
        path = self._history_path
        asked = [] if path is None else history.questions(path, HISTORY_LIMIT)
        yield Header()
        yield StatusLine("Opening the index…", id="status")
        with Horizontal(id="body"):
            with VerticalScroll(id="transcript"):
                yield Welcome(id="welcome")
            yield ResultsPanel(id="results")
        yield RebuildBar(id="rebuild")
        yield HistoryInput(asked, id="question")
        yield self.index
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_status()
        self.query_one(HistoryInput).focus()

    @property
    def transcript(self) -> VerticalScroll:
        return self.query_one("#transcript", VerticalScroll)

    @on(Input.Submitted, "#question")
    def submitted(self, event: Input.Submitted) -> None:
        self.ask(event.value)

    @on(Input.Changed, "#question")
    def typing(self, event: Input.Changed) -> None:
        if HAN_CHAR.search(event.value):
            self.index.warm_chinese()  # the segmenter loads while the question is typed

    # ------------------------------------------------------------------ keys

    def action_toggle_results(self) -> None:
        panel = self.query_one(ResultsPanel)
        panel.toggle_class("open")
        if panel.has_class("open"):
            self.query_one(ResultsList).focus()
        else:
            self.query_one(HistoryInput).focus()
        # The transcript changes width and reflows: keep the latest question in view.
        bubbles = self.query(QuestionBubble)
        if bubbles:
            self.call_after_refresh(
                self.transcript.scroll_to_widget, bubbles.last(), top=True, animate=False
            )

    def action_focus_input(self) -> None:
        self.query_one(HistoryInput).focus()

    def take_typing(self) -> None:
        """Printable keys and pastes are the next question: focus the question box now
        (synchronously: the key that follows must not reach the card)."""
        field = self.query_one(HistoryInput)
        if not isinstance(self.focused, Input) and field.focusable:
            self.set_focus(field)

    def action_page(self, direction: int) -> None:
        if direction < 0:
            self.transcript.scroll_page_up()
        else:
            self.transcript.scroll_page_down()

    def _latest_card(self) -> AnswerCard | None:
        cards = [c for c in self.query(AnswerCard) if c.best is not None]
        return cards[-1] if cards else None

    def action_open_best(self) -> None:
        card = self._latest_card()
        if card is None:
            self.notify("Ask a question first.", timeout=3)
        else:
            card.action_open()

    def action_copy_best(self) -> None:
        card = self._latest_card()
        if card is None:
            self.notify("Ask a question first.", timeout=3)
        else:
            card.action_copy()

    async def action_toggle_answer(self) -> None:
        """The focused card (or the latest): its answering sentences alone, or the passage."""
        focused = self.focused
        card = focused if isinstance(focused, AnswerCard) else self._latest_card()
        if card is None:
            self.notify("Ask a question first.", timeout=3)
        elif not await card.toggle_answer():
            self.notify("No sentence of this passage stands out as the answer.", timeout=3)

    async def action_clear(self) -> None:
        await self.transcript.remove_children()
        await self.transcript.mount(Welcome(id="welcome"))
        self.query_one(ResultsPanel).show(None, None)
        self.turns.clear()

    # ------------------------------------------------------------------ questions

    def ask(self, text: str) -> None:
        """Answer a question typed in the input."""
        question = " ".join(text.split())
        if question == "/in" or question.startswith("/in "):
            self.search_within(text.strip()[3:].strip())
            return
        if not question:
            self.notify(
                "Type a question first, e.g. “what is dropout” or “什么是过拟合”.",
                severity="warning",
                timeout=4,
            )
            return
        from qa.retrieve.search import QuestionError, clean_question

        try:
            question = clean_question(question)
        except QuestionError as err:
            self.notify(f"Cannot search this: {err}.", severity="warning", timeout=4)
            return
        field = self.query_one(HistoryInput)
        field.remember(question)
        field.value = ""
        turn = Turn(
            self._next_turn,
            question,
            QuestionBubble(question),
            AnswerCard(question, self._next_turn),
            within=self.within,
        )
        self._next_turn += 1
        self.turns[turn.id] = turn
        transcript = self.transcript
        for welcome in transcript.query("#welcome"):
            welcome.remove()
        transcript.mount_all([turn.bubble, turn.card])
        transcript.scroll_end(animate=False)
        self._dispatch(turn)

    def _dispatch(self, turn: Turn) -> None:
        """Search now with the channels that are ready, or say what the card waits for."""
        index = self.index
        if index.searcher is None:
            if index.phase == "failed":
                self.call_later(turn.card.fail, f"No index to search: {index.problem}")
            else:
                note = (
                    "Waiting for the index to be built…"
                    if index.phase == "building"
                    else "Waiting for the index to open…"
                )
                self.call_later(turn.card.wait, note)
            return
        if index.reloading:
            # Asked again once the new index is open (or could not be opened).
            turn.answer = None
            self.call_later(turn.card.wait, "Picking up the index another qa rebuilt…")
            return
        ready = index.ready_channels
        loading = index.loading_channels
        if not ready:
            self.call_later(turn.card.wait, f"Waiting for {', '.join(loading)} to load…")
            return
        turn.in_flight = True
        self._search(turn.id, turn.question, index.searcher, ready, loading, turn.within)

    def _dispatch_waiting(self, partial: bool = False) -> None:
        """Ask again every question not answered yet (and, with ``partial``, every one
        answered before all the models were ready) that is not being searched now."""
        for turn in list(self.turns.values()):
            if (turn.answer is None or (partial and turn.partial)) and not turn.in_flight:
                self._dispatch(turn)

    @work(thread=True, group="search", exit_on_error=False)
    def _search(
        self,
        turn: int,
        question: str,
        searcher: Searcher,
        channels: tuple[str, ...],
        waiting_for: tuple[str, ...],
        within: tuple[str, ...] = (),
    ) -> None:
        from qa.retrieve.passage import highlight_pattern, highlight_terms
        from qa.retrieve.search import QuestionError

        if self.index.newer_generation(searcher) is not None:
            # Another qa rebuilt the index: answer from that one, not the one open.
            self.index.post_message(IndexChanged(turn))
            return
        try:
            answer = searcher.search(question, top_k=10, channels=channels, within=within or None)
            expansion = answer.expansion
            shown = answer.hits + answer.unanswered
            text = "\n".join(f"{' '.join(h.chunk.heading_path)}\n{h.chunk.text}" for h in shown)
            pattern = highlight_pattern(highlight_terms(answer.query or question, text, expansion))
        except QuestionError as err:
            self.post_message(SearchFailed(turn, f"Cannot search this: {err}."))
        except Exception as err:  # shown on the card, never a traceback
            self.post_message(SearchFailed(turn, f"Search failed: {one_line(err)}"))
        else:
            self.post_message(
                Answered(turn, answer, pattern, bool(waiting_for), waiting_for, searcher)
            )

    async def on_answered(self, message: Answered) -> None:
        turn = self.turns.get(message.turn)
        if turn is None:  # cleared meanwhile
            return
        turn.in_flight = False
        if message.searcher is not None and message.searcher is not self.index.searcher:
            self._dispatch(turn)  # the index changed while it searched: ask the new one
            return
        turn.answer = message.answer
        turn.pattern = message.pattern
        still_loading = self.index.loading_channels
        if not message.partial and not turn.recorded and self._history_path is not None:
            turn.recorded = True
            history.record(self._history_path, history.asked(turn.question, "chat", turn.answer))
        turn.partial = message.partial
        refining = (still_loading or message.waiting_for) if message.partial else ()
        await turn.card.show(message.answer, turn.pattern, refining)
        if turn.id == max(self.turns):
            self.query_one(ResultsPanel).show(message.answer, turn.pattern, turn.within)
            # The new question at the top of the view, its answer below (as far as it goes).
            self.call_after_refresh(
                self.transcript.scroll_to_widget, turn.bubble, top=True, animate=False
            )
        if message.partial and not still_loading:
            self._dispatch(turn)  # the models arrived while this search ran

    async def on_search_failed(self, message: SearchFailed) -> None:
        turn = self.turns.get(message.turn)
        if turn is None:
            return
        turn.in_flight = False
        turn.partial = False
        if turn.answer is None:
            await turn.card.fail(message.message)
        else:
            self.notify(message.message, severity="error")

    def search_within(self, typed: str) -> None:
        """``/in PATH``: search only that note or folder from now on; ``/in``: everywhere."""
        from qa.retrieve.scope import ScopeError, describe, resolve_within

        field = self.query_one(HistoryInput)
        if not typed:
            field.value = ""
            if self.within:
                self.within = ()
                self.notify("Searching all the notes again.", timeout=3)
            else:
                self.notify("Type /in PATH to search one note or folder.", timeout=4)
            self.refresh_status()
            return
        try:
            self.within = (resolve_within(self.index.lib.corpus, typed),)
        except ScopeError as err:
            self.notify(f"/in: {err}.", severity="warning", timeout=6)
            return
        field.value = ""
        self.notify(
            f"Searching only {describe(self.within)}; /in alone searches everything.", timeout=4
        )
        self.refresh_status()

    # ------------------------------------------------------------------ after the index controller

    def on_build_started(self, message: BuildStarted) -> None:
        self.query_one(RebuildBar).start(message.reason)
        self.refresh_status()

    def on_build_progress(self, message: BuildProgress) -> None:
        self.query_one(RebuildBar).advance(message.stage, message.done, message.total)

    def on_index_opened(self, message: IndexOpened) -> None:
        self.query_one(RebuildBar).finish()
        self.refresh_status()
        self._dispatch_waiting()

    def on_index_failed(self, message: IndexFailed) -> None:
        self.query_one(RebuildBar).finish()
        if self.index.searcher is None:
            for turn in self.turns.values():
                if turn.answer is None:
                    self.call_later(turn.card.fail, f"No index to search: {message.message}")
        else:
            self._dispatch_waiting()  # from the index still open
        self.refresh_status()

    def on_index_changed(self, message: IndexChanged) -> None:
        turn = self.turns.get(message.turn) if message.turn is not None else None
        if turn is None:
            return
        turn.in_flight = False
        if self.index.building:
            # Our own rebuild wrote it and opens it next; the question waits for that.
            if turn.answer is None:
                self.call_later(turn.card.wait, "Waiting for the rebuilt index…")
            return
        self._dispatch(turn)  # waits for the reload

    @on(ChannelReady)
    @on(ChannelFailed)
    def channels_changed(self) -> None:
        self.refresh_status()
        if not self.index.loading_channels:
            self._dispatch_waiting(partial=True)

    def on_freshness_checked(self, message: FreshnessChecked) -> None:
        self.refresh_status()

    # ------------------------------------------------------------------ status line

    def status_content(self) -> Content:
        """The status line: index size, channels, where questions search, freshness."""
        index = self.index
        parts: list[str | Content | tuple[str, str]] = []
        if index.phase == "opening":
            parts.append(("Opening the index…", "bold"))
        elif index.phase == "building" and index.searcher is None:
            parts.append((f"Building the index ({index.build_reason})…", "bold $warning"))
        elif index.phase == "failed":
            parts.append((f"No index: {index.problem}", "bold $error"))
        elif index.searcher is not None:
            chunks = index.searcher.index
            notes = len(chunks.manifest.notes)
            parts.append(f"{len(chunks.chunks)} sections in {notes} note{'s' * (notes != 1)}")
        if index.channels:
            parts.append("  ·  ")
            for n, channel in enumerate(index.settings.channels):
                state = index.channels.get(channel, "loading")
                if index.searcher is not None and channel in index.searcher.filling:
                    state, channel = "filling", f"{channel} filling in"
                mark, style = {
                    "ready": ("✓", "$success"),
                    "failed": ("✗", "$error"),
                }.get(state, ("…", "$warning"))
                parts += [" " if n else "", channel, " ", (mark, style)]
        if self.within:
            from qa.retrieve.scope import describe

            parts += ["  ·  ", (safe_text(f"in {describe(self.within)}"), "bold $accent")]
        if index.building and index.searcher is not None:
            parts += ["  ·  ", ("rebuilding…", "$warning")]
        elif index.freshness is not None and index.phase == "ready":
            parts.append("  ·  ")
            if index.freshness.fresh:
                parts.append(("up to date", "$success"))
            else:
                parts.append(
                    (f"{status_reason(index.freshness.reason)} — ctrl+b to rebuild", "$warning")
                )
        return Content.assemble(*parts)

    def refresh_status(self) -> None:
        self.query_one(StatusLine).update(self.status_content())
