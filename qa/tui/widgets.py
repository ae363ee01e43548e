"""Widgets of the chat screen: the question input, answer cards, results panel, status."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.events import Click, Resize
from textual.widgets import (
    Collapsible,
    Input,
    Markdown,
    OptionList,
    ProgressBar,
    Static,
)
from textual.widgets.markdown import MarkdownBlock, MarkdownFence
from textual.widgets.option_list import Option

from qa.display import safe_text
from qa.retrieve.confidence import confidence_cue
from qa.retrieve.passage import answer_pattern, protect_math
from qa.tui.messages import AddToQuiz, CopyChunk, EditChunk, OpenSection
from qa.tui.present import also_in, breadcrumb, middle_cut, place, snippet

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from qa.retrieve.search import Answer, Hit
    from qa.store.chunks import Chunk

PLACEHOLDER = "Ask your notes…  /  问你的笔记…"
MORE_HITS = 3  # "also in your notes" shows the next three hits
# What a focused card, row or result does to its passage. Never printable keys: on the
# chat screen those are the next question, whatever has focus (QAApp.on_event).
KEYS_FOR_A_PASSAGE: tuple[BindingType, ...] = (
    Binding("ctrl+e", "edit", "Edit note"),
    Binding("ctrl+y", "copy", "Copy passage"),
)


# ---------------------------------------------------------------------------- text


def marked(text: str, pattern: re.Pattern[str] | None, style: str) -> Content:
    """``text`` as Content with the question's words styled (control characters made
    visible and inert: the text comes from notes)."""
    content = Content(safe_text(text))
    return content.highlight_regex(pattern, style=style) if pattern else content


class HighlightedMarkdown(Markdown):
    """Markdown with the question's words marked; code blocks are never touched.

    The marks are applied to each block's rendered text, after Markdown has been
    parsed, so they cannot break emphasis, links or code fences.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"markdown--highlight", "markdown--answer"}

    def __init__(
        self,
        markdown: str,
        pattern: re.Pattern[str] | None = None,
        answer: re.Pattern[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """``answer``: the answering sentences (qa.retrieve.passage.answer_pattern), marked too."""
        self.highlight_pattern = pattern
        self.answer_pattern = answer
        super().__init__(safe_text(markdown), **kwargs)

    def get_block_class(self, block_name: str) -> type[MarkdownBlock]:
        block = super().get_block_class(block_name)
        unmarked = self.highlight_pattern is None and self.answer_pattern is None
        if unmarked or issubclass(block, MarkdownFence):
            return block
        return _marking(block)


@cache
def _marking(block: type[MarkdownBlock]) -> type[MarkdownBlock]:
    """A subclass of a Markdown block class that marks the words of its Markdown parent."""

    def __init__(self: Any, markdown: Markdown, *args: Any, **kwargs: Any) -> None:
        block.__init__(self, markdown, *args, **kwargs)
        self._qa_pattern = getattr(markdown, "highlight_pattern", None)
        self._qa_answer = getattr(markdown, "answer_pattern", None)

    def set_content(self: Any, content: Content) -> None:
        if self._qa_answer is not None:
            content = content.highlight_regex(self._qa_answer, style=".markdown--answer")
        if self._qa_pattern is not None:
            content = content.highlight_regex(self._qa_pattern, style=".markdown--highlight")
        block.set_content(self, content)

    # Same name, so CSS that targets the block type still applies.
    return type(block.__name__, (block,), {"__init__": __init__, "set_content": set_content})


# ---------------------------------------------------------------------------- input


class HistoryInput(Input):
    """The question input; up and down walk through earlier questions."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "older", "Earlier question", show=False),
        Binding("down", "newer", "Later question", show=False),
    ]

    def __init__(self, history: Iterable[str] = (), **kwargs: Any) -> None:
        # Focus comes back here after a card, the editor or a key typed elsewhere: the
        # draft must stay as it is, not be selected for the next key to replace.
        kwargs.setdefault("select_on_focus", False)
        super().__init__(placeholder=PLACEHOLDER, **kwargs)
        self.history: list[str] = list(history)
        self._position: int | None = None  # index into history while walking it
        self._draft = ""

    def remember(self, question: str) -> None:
        if not self.history or self.history[-1] != question:
            self.history.append(question)
        self._position = None

    def action_older(self) -> None:
        if not self.history:
            return
        if self._position is None:
            self._draft = self.value
            self._position = len(self.history)
        if self._position > 0:
            self._position -= 1
            self._show(self.history[self._position])

    def action_newer(self) -> None:
        if self._position is None:
            return
        self._position += 1
        if self._position >= len(self.history):
            self._position = None
            self._show(self._draft)
        else:
            self._show(self.history[self._position])

    def _show(self, text: str) -> None:
        self.value = text
        self.cursor_position = len(text)


# ---------------------------------------------------------------------------- status


class StatusLine(Static):
    """One line under the header: the index, the channels, whether the notes changed."""


class RebuildBar(Horizontal):
    """What the running build is doing, with a progress bar (hidden when idle)."""

    def compose(self) -> ComposeResult:
        yield Static("Rebuilding…", id="rebuild-stage")
        yield ProgressBar(total=None, show_eta=False, id="rebuild-progress")

    def start(self, reason: str) -> None:
        self.query_one("#rebuild-stage", Static).update(
            Content(safe_text(f"Building the index: {reason}", one_line=True))
        )
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.add_class("active")

    def advance(self, stage: str, done: int, total: int) -> None:
        self.query_one("#rebuild-stage", Static).update(f"{stage.capitalize()} {done}/{total}")
        self.query_one(ProgressBar).update(total=max(total, 1), progress=done)

    def finish(self) -> None:
        self.remove_class("active")


# ---------------------------------------------------------------------------- transcript


class Welcome(Static):
    """What the empty transcript says."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            Content.assemble(
                ("Ask your notes", "bold"),
                " — type a question in English or Chinese and press Enter.\n",
                (
                    "↑/↓ earlier questions · ctrl+o the whole section of an answer · "
                    "ctrl+r top ten results · ctrl+p all commands",
                    "dim",
                ),
            ),
            **kwargs,
        )


class QuestionBubble(Horizontal):
    """The user's question, right-aligned like a chat message."""

    def __init__(self, question: str) -> None:
        super().__init__(classes="question-row")
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(Content(safe_text(self.question)), classes="question")


class HitRow(Static, can_focus=True):
    """One more passage (or an unanswered heading) under an answer; Enter opens it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Whole section"),
        *KEYS_FOR_A_PASSAGE,
    ]

    def __init__(self, hit: Hit, pattern: re.Pattern[str] | None = None) -> None:
        self.hit = hit
        self.pattern = pattern
        chunk = hit.chunk
        loc = chunk.location
        parts: list[str | Content | tuple[str, str]] = [
            marked(chunk.heading, pattern, ".card--highlight").stylize("bold"),
            "\n",
            (breadcrumb(loc), "dim"),
        ]
        # A heading the notes ask shows what stands under it instead ("TODO", a link).
        text = snippet(chunk.text) if chunk.answered else chunk.placeholder
        if text:
            parts += ["\n", marked(text, pattern, ".card--highlight")]
        super().__init__(Content.assemble(*parts), classes="hit-row")
        if not chunk.answered:
            self.add_class("unanswered")

    def action_open(self) -> None:
        self.post_message(OpenSection(self.hit.chunk, self.pattern))

    def action_edit(self) -> None:
        self.post_message(EditChunk(self.hit.chunk))

    def action_copy(self) -> None:
        self.post_message(CopyChunk(self.hit.chunk))

    def on_click(self, event: Click) -> None:
        event.stop()
        self.action_open()


class AnswerCard(Vertical, can_focus=True):
    """The answer to one question: the best passage, where it is, how sure, and more.

    States: pending (searching or waiting), answered, declined, failed. A card answered
    before every model was ready says "refining…" and is updated in place.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"card--highlight"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Whole section"),
        *KEYS_FOR_A_PASSAGE,
        Binding("ctrl+k", "add_to_quiz", "Add to quiz", show=False),
    ]

    def __init__(self, question: str, turn: int) -> None:
        super().__init__(classes="card pending")
        self.question = question
        self.turn = turn
        self.answer: Answer | None = None
        self.pattern: re.Pattern[str] | None = None
        self.refining: tuple[str, ...] = ()
        self.note = "Searching your notes…"
        self.error: str | None = None
        self.answer_only = False  # ctrl+n: the answering sentences alone, or the passage

    # -- state

    @property
    def best(self) -> Hit | None:
        """The hit that Enter, o and y act on: the answer, or the nearest section."""
        if self.answer is None:
            return None
        hits = self.answer.hits or self.answer.unanswered
        return hits[0] if hits else None

    @property
    def heading(self) -> str:
        """What the card's title says."""
        if self.answer is None:
            return ""
        if self.declined:
            if not self.answer.hits and self.answer.unanswered:
                return "Your notes ask this but have no answer yet"
            if not self.answer.hits:
                return "Nothing in your notes matches this question"
            return "Your notes don't seem to answer this"
        return self.answer.hits[0].chunk.heading

    @property
    def declined(self) -> bool:
        return self.answer is not None and (self.answer.declined or not self.answer.hits)

    async def wait(self, note: str) -> None:
        """Say what the card waits for (the index, a model)."""
        self.note = note
        if self.answer is None and self.error is None:
            # Still the pending layout (or not composed yet): update it in place.
            for label in self.query(".card-pending").results(Static):
                label.update(note)
            return
        self.answer = None
        self.error = None
        self._set_state("pending")
        await self.recompose()

    async def show(
        self,
        answer: Answer,
        pattern: re.Pattern[str] | None = None,
        refining: Sequence[str] = (),
    ) -> None:
        self.answer = answer
        self.pattern = pattern
        self.refining = tuple(refining)
        self.error = None
        self._set_state("declined" if self.declined else "answered")
        self.set_class(bool(self.refining), "refining")
        await self.recompose()

    @property
    def answer_sentences(self) -> list[str]:
        """The sentences of the best passage that answer, in the passage's order."""
        if self.answer is None or self.declined:
            return []
        top = self.answer.hits[0]
        text = top.chunk.text
        return [text[a:b] for a, b in sorted(top.answer_spans or [])]

    async def toggle_answer(self) -> bool:
        """Show the answering sentences alone, or the whole passage again; False when
        there is no answering sentence to show."""
        if not self.answer_sentences:
            return False
        self.answer_only = not self.answer_only
        await self.recompose()
        return True

    async def fail(self, message: str) -> None:
        self.error = message
        self._set_state("failed")
        await self.recompose()

    def _set_state(self, state: str) -> None:
        for name in ("pending", "answered", "declined", "failed"):
            self.set_class(name == state, name)

    # -- layout

    def compose(self) -> ComposeResult:
        if self.error is not None:
            yield Static(Content(safe_text(self.error)), classes="card-error")
            return
        if self.answer is None:
            yield Static(self.note, classes="card-pending")
            return
        if self.declined:
            yield from self._compose_declined(self.answer)
        else:
            yield from self._compose_answer(self.answer)

    def _head(self, answer: Answer, title: Content) -> ComposeResult:
        cue = confidence_cue(answer)
        with Horizontal(classes="card-head"):
            yield Static(title, classes="card-heading")
            yield Static(cue.text(answer.confidence), classes=f"cue cue-{cue.kind}")
        if self.refining:
            yield Static(
                f"⟳ refining… waiting for {', '.join(self.refining)}", classes="card-refining"
            )

    def _compose_answer(self, answer: Answer) -> ComposeResult:
        top = answer.hits[0]
        chunk = top.chunk
        loc = chunk.location
        yield from self._head(answer, marked(chunk.heading, self.pattern, ".card--highlight"))
        yield Static(Content(breadcrumb(loc)), classes="card-crumb")
        sentences = self.answer_sentences
        if self.answer_only and sentences:
            yield HighlightedMarkdown(
                protect_math("\n\n".join(sentences)), pattern=self.pattern, classes="card-passage"
            )
        else:
            yield HighlightedMarkdown(
                protect_math(chunk.text),
                pattern=self.pattern,
                answer=answer_pattern(sentences),
                classes="card-passage",
            )
        if sentences:
            yield Static(
                "The answer alone · ctrl+n the whole passage"
                if self.answer_only
                else "Answer in green · ctrl+n the answer alone",
                classes="card-answer-note",
            )
        notes = []
        if chunk.parts > 1:
            notes.append(
                f"Part {chunk.part} of {chunk.parts} · the whole section: Enter on this card, "
                "or ctrl+o"
            )
        if also := also_in(chunk):
            notes.append(also)
        if notes:
            yield Static(Content("\n".join(notes)), classes="card-note")
        more = answer.hits[1 : 1 + MORE_HITS]
        if more:
            yield Collapsible(
                *[HitRow(hit, self.pattern) for hit in more],
                title=f"Also in your notes ({len(more)})",
                collapsed=True,
                classes="card-more",
            )
        if answer.unanswered:
            yield from self._unanswered(answer)

    def _compose_declined(self, answer: Answer) -> ComposeResult:
        yield from self._head(answer, Content(self.heading))
        if answer.unanswered:
            yield from self._unanswered(answer)
        if answer.hits:
            nearest = answer.hits[:MORE_HITS]
            yield Static(
                "The nearest sections are below, in case one of them helps.",
                classes="card-note",
            )
            yield Collapsible(
                *[HitRow(hit, self.pattern) for hit in nearest],
                title=f"Nearest sections ({len(nearest)})",
                collapsed=True,
                classes="card-more",
            )

    def _unanswered(self, answer: Answer) -> ComposeResult:
        with Vertical(classes="card-unanswered"):
            yield Static("Your notes ask this but have no answer yet:", classes="unanswered-title")
            for hit in answer.unanswered:
                yield HitRow(hit, self.pattern)

    # -- actions

    def action_open(self) -> None:
        if (hit := self.best) is not None:
            self.post_message(OpenSection(hit.chunk, self.pattern))

    def action_edit(self) -> None:
        if (hit := self.best) is not None:
            self.post_message(EditChunk(hit.chunk))

    def action_copy(self) -> None:
        if (hit := self.best) is not None:
            self.post_message(CopyChunk(hit.chunk))

    def action_add_to_quiz(self) -> None:
        if self.answer is not None and self.answer.hits and not self.declined:
            self.post_message(AddToQuiz(self.question, self.answer.hits[0].chunk))
        else:
            self.notify("Only an answered question can become a quiz card.", timeout=3)


# ---------------------------------------------------------------------------- results


class ResultsList(OptionList):
    """The top hits of the latest question; Enter opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *KEYS_FOR_A_PASSAGE,
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hits: list[Hit] = []
        self.pattern: re.Pattern[str] | None = None

    def show(self, hits: list[Hit], pattern: re.Pattern[str] | None) -> None:
        self.hits = hits
        self.pattern = pattern
        self._fill()
        if hits:
            self.highlighted = 0

    def _fill(self) -> None:
        highlighted = self.highlighted
        self.set_options([Option(self._prompt(n, hit)) for n, hit in enumerate(self.hits, 1)])
        if highlighted is not None and highlighted < len(self.hits):
            self.highlighted = highlighted

    def on_resize(self, event: Resize) -> None:
        if self.hits:
            self._fill()  # paths are cut to the width (middle_cut)

    @property
    def _path_cells(self) -> int:
        """Room for a path on its line: the list's width less the indent, padding and
        scroll bar; wide enough when the list is not laid out yet."""
        width = self.size.width
        return width - 7 if width > 12 else 200

    def _prompt(self, n: int, hit: Hit) -> Content:
        chunk = hit.chunk
        loc = chunk.location
        parts: list[str | Content | tuple[str, str]] = [
            (f"{n:>2}. ", "dim"),
            marked(chunk.heading, self.pattern, "underline").stylize("bold"),
            "\n    ",
            (middle_cut(place(loc), self._path_cells), "dim"),
        ]
        if not chunk.answered:
            parts.append((" · no answer yet", "italic dim"))
        return Content.assemble(*parts)

    @property
    def current(self) -> Chunk | None:
        index = self.highlighted
        if index is None or not 0 <= index < len(self.hits):
            return None
        return self.hits[index].chunk

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.hits):
            self.post_message(OpenSection(self.hits[event.option_index].chunk, self.pattern))

    def action_edit(self) -> None:
        if (chunk := self.current) is not None:
            self.post_message(EditChunk(chunk))

    def action_copy(self) -> None:
        if (chunk := self.current) is not None:
            self.post_message(CopyChunk(chunk))


class ResultsPanel(Vertical):
    """The top ten for the latest question, docked right; toggled with ctrl+r."""

    def compose(self) -> ComposeResult:
        yield Static("Top results", id="results-title")
        yield ResultsList(id="results-list")
        yield Static("enter open · ^e edit · ^y copy · esc back", id="results-help")

    def show(
        self,
        answer: Answer | None,
        pattern: re.Pattern[str] | None,
        within: tuple[str, ...] = (),
    ) -> None:
        """List ``answer``'s hits; ``within``: the notes it searched (/in), named in the
        title."""
        titles, lists = self.query("#results-title"), self.query(ResultsList)
        if not titles or not lists:  # a late answer while the app closes and unmounts us
            return
        title, results = titles.first(Static), lists.first()
        if answer is None:
            title.update("Top results")
            results.show([], None)
            return
        hits = answer.hits[:10] + answer.unanswered
        question = safe_text(answer.question, one_line=True)
        scope = f" in {safe_text(', '.join(within), one_line=True)}" if within else ""
        title.update(Content.assemble(("Top results", "bold"), scope, f" for “{question}”"))
        results.show(hits, pattern)
