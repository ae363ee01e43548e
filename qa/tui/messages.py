"""Messages that workers, widgets and screens post upward, to their screen and the app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    import re
    from pathlib import Path

    from qa.retrieve.navigate import Outline
    from qa.retrieve.search import Answer, Searcher
    from qa.store.build import BuildReport
    from qa.store.chunks import Chunk
    from qa.store.index import Freshness


class IndexOpened(Message):
    """An index is open (after start-up or a rebuild) and can answer with BM25."""

    def __init__(
        self,
        searcher: Searcher,
        outline: Outline,
        freshness: Freshness,
        report: BuildReport | None = None,
        reloaded: bool = False,
    ) -> None:
        super().__init__()
        self.searcher = searcher
        self.outline = outline
        self.freshness = freshness
        self.report = report  # set when the index was (re)built first
        self.reloaded = reloaded  # rebuilt by another process (qa watch) and picked up


class IndexFailed(Message):
    """The index could not be opened or built; ``message`` says what to do."""

    def __init__(self, message: str, generation: Path | None = None) -> None:
        super().__init__()
        self.message = message
        self.generation = generation  # the generation a reload could not open


class IndexChanged(Message):
    """The index on disk is newer than the open one (another qa rebuilt it); ``turn``:
    the question whose search found out, and now waits for the new index."""

    def __init__(self, turn: int | None = None) -> None:
        super().__init__()
        self.turn = turn


class BuildStarted(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class BuildProgress(Message):
    def __init__(self, stage: str, done: int, total: int) -> None:
        super().__init__()
        self.stage = stage
        self.done = done
        self.total = total


class ChannelReady(Message):
    """A dense model finished loading."""

    def __init__(self, searcher: Searcher, channel: str) -> None:
        super().__init__()
        self.searcher = searcher
        self.channel = channel


class ChannelFailed(Message):
    def __init__(self, searcher: Searcher, channel: str, message: str) -> None:
        super().__init__()
        self.searcher = searcher
        self.channel = channel
        self.message = message


class FreshnessChecked(Message):
    def __init__(self, freshness: Freshness) -> None:
        super().__init__()
        self.freshness = freshness


class Answered(Message):
    """A search finished; ``partial`` when some channels were still loading."""

    def __init__(
        self,
        turn: int,
        answer: Answer,
        pattern: re.Pattern[str] | None,
        partial: bool,
        waiting_for: tuple[str, ...] = (),
        searcher: Searcher | None = None,
    ) -> None:
        super().__init__()
        self.turn = turn
        self.searcher = searcher  # the one that answered
        self.answer = answer
        self.pattern = pattern  # the question's words to mark in passages
        self.partial = partial
        self.waiting_for = waiting_for


class SearchFailed(Message):
    def __init__(self, turn: int, message: str) -> None:
        super().__init__()
        self.turn = turn
        self.message = message


class OpenSection(Message):
    """Show the whole section a chunk belongs to."""

    def __init__(self, chunk: Chunk, highlight: Any = None) -> None:
        super().__init__()
        self.chunk = chunk
        self.highlight = highlight  # a compiled pattern of words to mark, or None


class EditChunk(Message):
    """Open the note at the chunk's section in the editor."""

    def __init__(self, chunk: Chunk) -> None:
        super().__init__()
        self.chunk = chunk


class CopyChunk(Message):
    """Copy a chunk's passage to the clipboard."""

    def __init__(self, chunk: Chunk) -> None:
        super().__init__()
        self.chunk = chunk


class AddToQuiz(Message):
    """Keep the question of an answer card as a quiz card, its answer section the back."""

    def __init__(self, question: str, chunk: Chunk) -> None:
        super().__init__()
        self.question = question
        self.chunk = chunk


class EditNote(Message):
    """Open a note of the folder in the editor at ``line`` (from a screen that shows it)."""

    def __init__(self, file: str, line: int) -> None:
        super().__init__()
        self.file = file
        self.line = line


class CopyText(Message):
    """Copy ``text`` to the clipboard; ``where`` (``file.md:LINE``) names it in the notice."""

    def __init__(self, text: str, where: str) -> None:
        super().__init__()
        self.text = text
        self.where = where
