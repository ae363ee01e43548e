"""The chat TUI: ask questions, read answer cards, browse results and sections.

Everything slow runs in thread workers that post messages back: opening or building
the index, loading each dense model, searching, checking whether the notes changed.
The input is usable at once; a question asked before every model is ready is answered
by the channels that are, and its card is refined when the rest arrive.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Input

from qa import history, places
from qa.display import safe_text
from qa.settings import LEXICAL, Settings
from qa.text import HAN_CHAR
from qa.tui.messages import (
    AddToQuiz,
    Answered,
    BuildProgress,
    BuildStarted,
    ChannelFailed,
    ChannelReady,
    CopyChunk,
    EditChunk,
    FreshnessChecked,
    IndexChanged,
    IndexFailed,
    IndexOpened,
    OpenSection,
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
    from qa.index import BuildReport, Freshness
    from qa.library import Library
    from qa.navigate import Outline
    from qa.search import Answer, Searcher

W = TypeVar("W", bound=Widget)
HISTORY_LIMIT = 500
NARROW = 100  # columns: below this the results panel overlays the transcript
FRESHNESS_SECONDS = 10.0
CHINESE_WARMUP_SECONDS = 5.0


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
        Binding("ctrl+g", "gaps", "Gaps"),
        Binding("ctrl+l", "clear", "Clear", show=False),
        Binding("escape", "focus_input", "Back to question", show=False),
        Binding("pageup", "page(-1)", "Scroll up", show=False),
        Binding("pagedown", "page(1)", "Scroll down", show=False),
    ]

    def __init__(self, history: Iterable[str] = ()) -> None:
        super().__init__()
        self._history = list(history)

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine("Opening the index…", id="status")
        with Horizontal(id="body"):
            with VerticalScroll(id="transcript"):
                yield Welcome(id="welcome")
            yield ResultsPanel(id="results")
        yield RebuildBar(id="rebuild")
        yield HistoryInput(self._history, id="question")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(HistoryInput).focus()

    @property
    def qa(self) -> QAApp:
        app = self.app
        assert isinstance(app, QAApp)
        return app

    @property
    def transcript(self) -> VerticalScroll:
        return self.query_one("#transcript", VerticalScroll)

    @on(Input.Submitted, "#question")
    def submitted(self, event: Input.Submitted) -> None:
        self.qa.ask(event.value)

    @on(Input.Changed, "#question")
    def typing(self, event: Input.Changed) -> None:
        if HAN_CHAR.search(event.value):
            self.qa.warm_chinese()  # the segmenter loads while the question is typed

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

    def action_gaps(self) -> None:
        self.qa.open_gaps()

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
        self.qa.turns.clear()


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

        self.corpus = Path(corpus).resolve()
        self.index_dir = Path(index_dir)
        self.settings = settings
        self.lib = Library(self.corpus, self.index_dir, settings)
        self.sub_title = safe_text(self.corpus.name, one_line=True)
        self.searcher: Searcher | None = None
        self.outline: Outline | None = None
        self.freshness: Freshness | None = None
        self.phase = "opening"  # opening, building, ready, failed
        self.problem = ""  # why the index could not be opened
        self.build_reason = ""
        self.building = False
        self.reloading = False  # picking up an index another process rebuilt
        self._unopenable: Path | None = None  # a generation a reload failed to open
        self.channels: dict[str, str] = {}  # channel -> loading, ready, failed
        self.turns: dict[int, Turn] = {}
        self._given_searcher = searcher
        self._next_turn = 1
        self._history_path = history_path
        self._freshness_seconds = freshness_seconds
        self._chinese_warmed = False
        self.within: tuple[str, ...] = ()  # /in PATH: search only there (qa.scope)
        self._quiz_path = quiz_path

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        markup: bool = False,
        **kwargs: Any,
    ) -> None:
        """A notification; its text may name notes and hold errors from them, so it is
        made safe to show (qa.display) and is not read as markup."""
        super().notify(safe_text(message), title=safe_text(title), markup=markup, **kwargs)

    async def on_event(self, event: events.Event) -> None:
        """On the chat screen a printable key or a paste always goes to the question
        box, never to the bindings of a focused card, row or results list. Other
        screens (the section viewer, the command palette) keep their keys."""
        if (
            isinstance(event, events.Key)
            and event.key == "question_mark"
            and self.screen_stack
            and isinstance(self.screen, ChatScreen)
            and not self.screen.query_one(HistoryInput).value
        ):
            event.stop()  # ? in an empty question box is a request for help, not text
            self.action_help()
            return
        if (
            isinstance(event, events.Key | events.Paste)
            and not event.is_forwarded
            and (isinstance(event, events.Paste) or event.is_printable)
            and self.screen_stack
            and isinstance(self.screen, ChatScreen)
        ):
            self.screen.take_typing()
        await super().on_event(event)

    def action_help(self) -> None:
        """qa's own keys and commands (qa.tui.help), over whatever screen is showing."""
        from qa.tui.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def focus_question(self) -> None:
        """Give the question box focus again when the chat screen is showing (after
        the editor, a copy, the section viewer)."""
        if self.screen_stack and isinstance(self.screen, ChatScreen):
            self.screen.action_focus_input()

    # ------------------------------------------------------------------ start-up

    def get_default_screen(self) -> Screen[Any]:
        return ChatScreen(self._read_history())

    @property
    def chat(self) -> ChatScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, ChatScreen)
        return screen

    def _chat_widgets(self, kind: type[W]) -> list[W]:
        """Widgets of the chat screen; none before it is composed or after it is gone."""
        if not self.screen_stack or not isinstance(self.screen_stack[0], ChatScreen):
            return []
        return list(self.screen_stack[0].query(kind).results(kind))

    def on_mount(self) -> None:
        self.refresh_status()
        self._open_index()
        if self._freshness_seconds > 0:
            self.set_interval(self._freshness_seconds, self._poll_freshness)

    @work(thread=True, exclusive=True, group="index", exit_on_error=False)
    def _open_index(self) -> None:
        """Open the index, building it first when there is none (``Policy.PRESENT``).

        A damaged index, or one written by another version of qa, is rebuilt from
        scratch; one built with other models is an error for the user to settle, never
        silently rebuilt. Notes that changed since the build are only reported (the
        status line offers ctrl+b).
        """
        from qa.index import IndexError_
        from qa.library import Policy
        from qa.notes import CorpusError

        try:
            searcher = self._given_searcher or self.lib.open(
                Policy.PRESENT,
                self._progress,
                on_build=lambda reason: self.post_message(BuildStarted(reason)),
                published=lambda _: self._reopen(None),  # answer while e5 fills in
            )
            outline, freshness = self._survey(searcher)
        except (CorpusError, IndexError_, OSError, RuntimeError, ValueError) as err:
            self.post_message(IndexFailed(_one_line(err)))
            return
        report = self.lib.last_build if self._given_searcher is None else None
        self.post_message(IndexOpened(searcher, outline, freshness, report))

    def _load_searcher(self) -> Searcher:
        """The index as it is now, never built here; models come from the process's pool."""
        from qa.library import Policy

        return self.lib.open(Policy.EXISTING)

    def _survey(self, searcher: Searcher) -> tuple[Outline, Freshness]:
        from qa.navigate import Outline

        return Outline.of(searcher.index), self._freshness_now()

    def _freshness_now(self) -> Freshness:
        from qa.index import Freshness
        from qa.notes import CorpusError

        try:
            return self.lib.freshness()
        except (CorpusError, OSError) as err:
            return Freshness(False, _one_line(err))

    def _progress(self, stage: str, done: int, total: int) -> None:
        self.post_message(BuildProgress(stage, done, total))

    def _build(self, reason: str, full: bool) -> BuildReport:
        """Build the index (in a worker thread), reporting progress to the UI."""
        self.post_message(BuildStarted(reason))
        return self.lib.build(
            full=full, progress=self._progress, published=lambda _: self._reopen(None)
        )

    def on_build_started(self, message: BuildStarted) -> None:
        self.building = True
        self.phase = "building" if self.searcher is None else self.phase
        self.build_reason = message.reason
        for bar in self._chat_widgets(RebuildBar):
            bar.start(message.reason)
        self.refresh_status()

    def on_build_progress(self, message: BuildProgress) -> None:
        for bar in self._chat_widgets(RebuildBar):
            bar.advance(message.stage, message.done, message.total)

    def on_index_opened(self, message: IndexOpened) -> None:
        self.searcher = message.searcher
        self.outline = message.outline
        self.freshness = message.freshness
        self.phase = "ready"
        self.problem = ""
        self.reloading = False
        self._unopenable = None
        for bar in self._chat_widgets(RebuildBar):
            bar.finish()
        if message.report is not None:
            self.building = False
            self.notify(_build_summary(message.report), title="Index up to date", timeout=6)
        elif message.reloaded:
            self.notify(
                "The index was rebuilt by another qa (qa watch?); answers now use it.",
                title="Index updated",
                timeout=6,
            )
        from qa.tui.gaps import GapsScreen

        for screen in self.screen_stack:  # a newer index: the gaps may have changed
            if isinstance(screen, GapsScreen):
                screen.refresh_gaps(message.searcher)
        dense = self.settings.dense_channels
        self.channels = {c: "ready" if c == LEXICAL else "loading" for c in self.settings.channels}
        for channel in dense:
            self._load_channel(message.searcher, channel)
        self.refresh_status()
        for turn in list(self.turns.values()):
            if turn.answer is None and not turn.in_flight:
                self._dispatch(turn)

    def on_index_failed(self, message: IndexFailed) -> None:
        for bar in self._chat_widgets(RebuildBar):
            bar.finish()
        was_building = self.building
        self.building = False
        if self.reloading:
            # Keep answering from the open index; do not try this generation again.
            self.reloading = False
            self._unopenable = message.generation
            for turn in list(self.turns.values()):
                if turn.answer is None and not turn.in_flight:
                    self._dispatch(turn)
        if self.searcher is None:
            self.phase = "failed"
            self.problem = message.message
            for turn in self.turns.values():
                if turn.answer is None:
                    self.call_later(turn.card.fail, f"No index to search: {message.message}")
        title = "Rebuild failed" if was_building and self.searcher else "Cannot open the index"
        self.notify(message.message, title=title, severity="error", timeout=10)
        self.refresh_status()

    @work(thread=True, group="models", exit_on_error=False)
    def _load_channel(self, searcher: Searcher, channel: str) -> None:
        try:
            searcher.encoder(channel).warm_up()
        except Exception as err:  # a model that cannot load must not take the app down
            self.post_message(ChannelFailed(searcher, channel, _one_line(err)))
        else:
            self.post_message(ChannelReady(searcher, channel))

    def on_channel_ready(self, message: ChannelReady) -> None:
        if message.searcher is not self.searcher:
            return
        self.channels[message.channel] = "ready"
        self._channels_changed()

    def on_channel_failed(self, message: ChannelFailed) -> None:
        if message.searcher is not self.searcher:
            return
        self.channels[message.channel] = "failed"
        self.notify(
            f"{message.channel}: {message.message}. Answers use the other channels.",
            title="A model could not load",
            severity="warning",
            timeout=10,
        )
        self._channels_changed()

    def _channels_changed(self) -> None:
        self.refresh_status()
        if self.loading_channels:
            return
        # Loading the Chinese segmenter holds the interpreter for about a second; not
        # while the first (likely English) question is being answered, so later, or as
        # soon as the user starts typing Chinese (see warm_chinese).
        self.set_timer(CHINESE_WARMUP_SECONDS, self.warm_chinese)
        for turn in list(self.turns.values()):
            if (turn.partial or turn.answer is None) and not turn.in_flight:
                self._dispatch(turn)

    def warm_chinese(self) -> None:
        """Load the Chinese word segmenter now, not on the first Chinese question."""
        if not self._chinese_warmed and self.searcher is not None:
            self._chinese_warmed = True
            self._warm_chinese(self.searcher)

    @work(thread=True, group="models", exit_on_error=False)
    def _warm_chinese(self, searcher: Searcher) -> None:
        from qa.text import tokenize

        try:
            tokenize("预热中文分词")
            searcher.glossary.expand("预热")
        except Exception:  # only a warm-up: the first Chinese question will load it
            self._chinese_warmed = False

    @property
    def ready_channels(self) -> tuple[str, ...]:
        return tuple(c for c in self.settings.channels if self.channels.get(c) == "ready")

    @property
    def loading_channels(self) -> tuple[str, ...]:
        return tuple(c for c in self.settings.channels if self.channels.get(c) == "loading")

    # ------------------------------------------------------------------ questions

    def ask(self, text: str) -> None:
        """Answer a question typed in the input (from the chat screen)."""
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
        from qa.search import QuestionError, clean_question

        try:
            question = clean_question(question)
        except QuestionError as err:
            self.notify(f"Cannot search this: {err}.", severity="warning", timeout=4)
            return
        chat = self.chat
        field = chat.query_one(HistoryInput)
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
        transcript = chat.transcript
        for welcome in transcript.query("#welcome"):
            welcome.remove()
        transcript.mount_all([turn.bubble, turn.card])
        transcript.scroll_end(animate=False)
        self._dispatch(turn)

    def _dispatch(self, turn: Turn) -> None:
        """Search now with the channels that are ready, or say what the card waits for."""
        if self.searcher is None:
            if self.phase == "failed":
                self.call_later(turn.card.fail, f"No index to search: {self.problem}")
            else:
                note = (
                    "Waiting for the index to be built…"
                    if self.phase == "building"
                    else "Waiting for the index to open…"
                )
                self.call_later(turn.card.wait, note)
            return
        if self.reloading:
            # Asked again once the new index is open (on_index_opened or on_index_failed).
            turn.answer = None
            self.call_later(turn.card.wait, "Picking up the index another qa rebuilt…")
            return
        ready = self.ready_channels
        loading = self.loading_channels
        if not ready:
            self.call_later(turn.card.wait, f"Waiting for {', '.join(loading)} to load…")
            return
        turn.in_flight = True
        self._search(turn.id, turn.question, self.searcher, ready, loading, turn.within)

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
        from qa.passage import highlight_pattern, highlight_terms
        from qa.search import QuestionError

        if self._newer_generation(searcher) is not None:
            # Another qa rebuilt the index: answer from that one, not the one open.
            self.post_message(IndexChanged(turn))
            return
        try:
            answer = searcher.search(question, top_k=10, channels=channels, within=within or None)
            expansion = answer.expansion
            shown = answer.hits + answer.unanswered
            text = "\n".join(f"{' '.join(h.chunk.heading_path)}\n{h.chunk.text}" for h in shown)
            pattern = highlight_pattern(highlight_terms(question, text, expansion))
        except QuestionError as err:
            self.post_message(SearchFailed(turn, f"Cannot search this: {err}."))
        except Exception as err:  # shown on the card, never a traceback
            self.post_message(SearchFailed(turn, f"Search failed: {_one_line(err)}"))
        else:
            self.post_message(
                Answered(turn, answer, pattern, bool(waiting_for), waiting_for, searcher)
            )

    async def on_answered(self, message: Answered) -> None:
        turn = self.turns.get(message.turn)
        if turn is None:  # cleared meanwhile
            return
        turn.in_flight = False
        if message.searcher is not None and message.searcher is not self.searcher:
            self._dispatch(turn)  # the index changed while it searched: ask the new one
            return
        turn.answer = message.answer
        turn.pattern = message.pattern
        still_loading = self.loading_channels
        if not message.partial and not turn.recorded:
            turn.recorded = True
            self._save_history(turn.question, message.answer)
        turn.partial = message.partial
        refining = (still_loading or message.waiting_for) if message.partial else ()
        await turn.card.show(message.answer, turn.pattern, refining)
        if turn.id == max(self.turns):
            for panel in self._chat_widgets(ResultsPanel):
                panel.show(message.answer, turn.pattern, turn.within)
            # The new question at the top of the view, its answer below (as far as it goes).
            transcript = self.chat.transcript
            self.call_after_refresh(
                transcript.scroll_to_widget, turn.bubble, top=True, animate=False
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
        from qa.scope import ScopeError, describe, resolve_within

        field = self.chat.query_one(HistoryInput)
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
            self.within = (resolve_within(self.corpus, typed),)
        except ScopeError as err:
            self.notify(f"/in: {err}.", severity="warning", timeout=6)
            return
        field.value = ""
        self.notify(
            f"Searching only {describe(self.within)}; /in alone searches everything.", timeout=4
        )
        self.refresh_status()

    # ------------------------------------------------------------------ sections, editor, copy

    def on_open_section(self, message: OpenSection) -> None:
        from qa.tui.section import SectionScreen

        if self.outline is None:
            return
        try:
            section = self.outline.section_of(message.chunk)
        except KeyError:
            self.notify("That section is no longer in the index; rebuild it.", severity="warning")
            return
        self.push_screen(
            SectionScreen(self.outline, section, message.highlight),
            callback=lambda _: self.focus_question(),
        )

    def on_edit_chunk(self, message: EditChunk) -> None:
        loc = message.chunk.location
        self.edit_note(loc.file, loc.section_line or loc.start_line)

    def on_copy_chunk(self, message: CopyChunk) -> None:
        chunk = message.chunk
        loc = chunk.location
        self.copy_passage(chunk.text, f"{loc.file}:{loc.start_line}")

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
        from qa.editor import editor_command, editor_problem
        from qa.notes import note_path

        self.focus_question()  # also when the editor cannot be run
        # An index names its notes; a damaged one must not open /etc/passwd for editing.
        path = note_path(self.corpus, file, self.settings.follow_links)
        if path is None:
            self.notify(f"{file} is not in {self.corpus}; not opening it.", severity="error")
            return
        if not path.is_file():
            self.notify(f"{file} is not in {self.corpus} any more.", severity="error")
            return
        command = editor_command(path, line)
        problem = editor_problem()
        if command is None:
            self.notify(
                f"{problem}, and neither nano nor vi is installed."
                if problem
                else "No editor found: set $EDITOR (for example `export EDITOR=nano`).",
                severity="error",
                timeout=8,
            )
            return
        if problem:
            self.notify(f"{problem}; opening {Path(command[0]).name} instead.", severity="warning")
        self.run_editor(command)
        self._poll_freshness()

    def open_gaps(self) -> None:
        """The Gaps screen: what the notes ask but do not answer (qa.tui.gaps)."""
        from qa.tui.gaps import GapsScreen

        if self.searcher is None:
            self.notify("The index is not open yet.", timeout=3)
        elif not any(isinstance(s, GapsScreen) for s in self.screen_stack):
            self.push_screen(GapsScreen(self.searcher, self._history_path))

    def run_editor(self, command: list[str]) -> None:
        from textual.app import SuspendNotSupported

        try:
            with self.suspend():
                done = subprocess.run(command, check=False)
        except SuspendNotSupported:
            self.notify("This terminal cannot hand over to an editor.", severity="error")
        except OSError as err:
            self.notify(
                f"The editor failed: cannot run {command[0]} ({err.strerror}).", severity="error"
            )
        else:
            if done.returncode:
                self.notify(
                    f"The editor failed: {command[0]} exited with status {done.returncode}.",
                    severity="warning",
                )

    # ------------------------------------------------------------------ quiz

    def _quiz_store(self) -> Any:
        from qa.quiz_store import QuizStore, QuizStoreError

        if self._quiz_path is None:
            self.notify("The quiz has no review file here.", severity="warning")
            return None
        if self.searcher is None:
            self.notify("The index is still opening; try again in a moment.", timeout=3)
            return None
        try:
            return QuizStore(self._quiz_path)
        except QuizStoreError as err:
            self.notify(str(err), severity="error")
            return None

    def action_quiz(self) -> None:
        """Drill the notes (qa quiz) on a screen of its own; escape comes back."""
        from qa.quiz_store import open_drill
        from qa.tui.quiz import QuizScreen

        store = self._quiz_store()
        if store is None or self.searcher is None:
            return
        drill = open_drill(store, self.searcher.index.chunks)
        self.push_screen(
            QuizScreen(drill, self.searcher.glossary), callback=lambda _: self.focus_question()
        )

    def on_add_to_quiz(self, message: AddToQuiz) -> None:
        from qa.quiz_store import add_question

        store = self._quiz_store()
        if store is None or self.searcher is None:
            return
        try:
            card = add_question(store, message.question, self.searcher.index.chunks, message.chunk)
        except ValueError as err:
            self.notify(str(err), severity="warning")
            return
        self.notify(f"Added to the quiz: {card.front} → {card.section.heading}", timeout=4)

    # ------------------------------------------------------------------ rebuild, freshness

    def action_rebuild(self, full: bool = False) -> None:
        if self.building:
            self.notify("A rebuild is already running.", timeout=3)
            return
        self.building = True
        self._rebuild(full)

    @work(thread=True, exclusive=True, group="index", exit_on_error=False)
    def _rebuild(self, full: bool) -> None:
        from qa.index import IndexError_
        from qa.notes import CorpusError

        reason = "re-reading every note" if full else "re-reading the notes"
        try:
            report = self._build(reason, full)
        except (CorpusError, IndexError_, OSError, RuntimeError, ValueError) as err:
            self.post_message(IndexFailed(_one_line(err)))
            return
        self._reopen(report)

    def _reopen(self, report: BuildReport | None, reloaded: bool = False) -> None:
        """Open the current index again (in a worker) and hand it to the UI."""
        from qa.index import IndexError_

        generation = self.lib.generation()
        try:
            searcher = self._load_searcher()
            outline, freshness = self._survey(searcher)
        except (IndexError_, OSError, RuntimeError, ValueError) as err:
            self.post_message(IndexFailed(_one_line(err), generation))
            return
        self.post_message(IndexOpened(searcher, outline, freshness, report, reloaded))

    def _poll_freshness(self) -> None:
        # One check at a time: a check that reloads an index can take longer than the
        # interval, and checks piling up would each reload it again.
        checking = any(w.group == "freshness" and not w.is_finished for w in self.workers)
        if self.phase == "ready" and not self.building and not self.reloading and not checking:
            self._check_freshness()

    def _newer_generation(self, searcher: Searcher | None) -> Path | None:
        """The generation on disk when it is not the one ``searcher`` reads (and not one
        that could not be opened); None when they are the same or it cannot be told."""
        if searcher is None:
            return None
        current = self.lib.generation()
        if current is None:
            return None  # a build is swapping generations right now; look again later
        if current == searcher.index.folder or current == self._unopenable:
            return None
        return current

    def on_index_changed(self, message: IndexChanged) -> None:
        turn = self.turns.get(message.turn) if message.turn is not None else None
        if turn is not None:
            turn.in_flight = False
        if self.building:
            # Our own rebuild wrote it and opens it next; the question waits for that
            # (on_index_opened asks it again).
            if turn is not None and turn.answer is None:
                self.call_later(turn.card.wait, "Waiting for the rebuilt index…")
            return
        if not self.reloading:
            self.reloading = True
            self._reload()
        if turn is not None:
            self._dispatch(turn)  # waits for the reload

    @work(thread=True, group="reload", exit_on_error=False)
    def _reload(self) -> None:
        self._reopen(None, reloaded=True)

    @work(thread=True, exclusive=True, group="freshness", exit_on_error=False)
    def _check_freshness(self) -> None:
        """Have the notes changed? Has another process (qa watch) built a newer index?"""
        if self._newer_generation(self.searcher) is not None:
            self.post_message(IndexChanged())
        else:
            self.post_message(FreshnessChecked(self._freshness_now()))

    def on_freshness_checked(self, message: FreshnessChecked) -> None:
        if self.building:
            return
        was_fresh = self.freshness is None or self.freshness.fresh
        self.freshness = message.freshness
        if was_fresh and not message.freshness.fresh:
            self.notify(
                f"{message.freshness.reason} — press ctrl+b to rebuild the index.",
                title="The index is out of date",
                timeout=8,
            )
        self.refresh_status()

    # ------------------------------------------------------------------ status, theme, palette

    def status_content(self) -> Content:
        """The status line: index size, channels, freshness."""
        parts: list[str | Content | tuple[str, str]] = []
        if self.phase == "opening":
            parts.append(("Opening the index…", "bold"))
        elif self.phase == "building" and self.searcher is None:
            parts.append((f"Building the index ({self.build_reason})…", "bold $warning"))
        elif self.phase == "failed":
            parts.append((f"No index: {self.problem}", "bold $error"))
        elif self.searcher is not None:
            index = self.searcher.index
            notes = len(index.manifest.notes)
            parts.append(f"{len(index.chunks)} sections in {notes} note{'s' * (notes != 1)}")
        if self.channels:
            parts.append("  ·  ")
            for n, channel in enumerate(self.settings.channels):
                state = self.channels.get(channel, "loading")
                if self.searcher is not None and channel in self.searcher.filling:
                    state, channel = "filling", f"{channel} filling in"
                mark, style = {
                    "ready": ("✓", "$success"),
                    "failed": ("✗", "$error"),
                }.get(state, ("…", "$warning"))
                parts += [" " if n else "", channel, " ", (mark, style)]
        if self.within:
            from qa.scope import describe

            parts += ["  ·  ", (safe_text(f"in {describe(self.within)}"), "bold $accent")]
        if self.building and self.searcher is not None:
            parts += ["  ·  ", ("rebuilding…", "$warning")]
        elif self.freshness is not None and self.phase == "ready":
            parts.append("  ·  ")
            if self.freshness.fresh:
                parts.append(("up to date", "$success"))
            else:
                parts.append(
                    (f"{status_reason(self.freshness.reason)} — ctrl+b to rebuild", "$warning")
                )
        return Content.assemble(*parts)

    def refresh_status(self) -> None:
        for status in self._chat_widgets(StatusLine):
            status.update(self.status_content())

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
            self._check_freshness,
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
            self.open_gaps,
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

    # ------------------------------------------------------------------ history

    def _read_history(self) -> list[str]:
        if self._history_path is None:
            return []
        return history.questions(self._history_path, HISTORY_LIMIT)

    def _save_history(self, question: str, answer: Answer | None = None) -> None:
        if self._history_path is None:
            return
        history.record(self._history_path, history.asked(question, "chat", answer))


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _build_summary(report: BuildReport) -> str:
    embedded = ", ".join(f"{n} {name}" for name, n in report.embedded.items() if n)
    return (
        f"{report.notes} note{'s' * (report.notes != 1)}, {report.chunks} sections: "
        f"{report.added} added, {report.changed} changed, {report.removed} removed"
        + (f"; embedded {embedded}" if embedded else "")
        + f" ({report.seconds:.1f} s)."
        + (f" {len(report.problems)} note(s) had problems." if report.problems else "")
    )


def run_app(lib: Library) -> None:
    """Run the chat TUI until the user quits."""
    from qa.quiz_store import store_path

    QAApp(
        lib.corpus,
        lib.index_dir,
        lib.settings,
        history_path=places.history_path(lib.corpus),
        quiz_path=store_path(lib.corpus),
    ).run()
