"""The chat TUI, driven through Textual's Pilot: questions, cards, panels, rebuilds.

Plumbing tests use the fake encoder on a copy of the small fixture notes; the English
and Chinese questions and the declined question use the real bundled models.
"""

from __future__ import annotations

import asyncio
import functools
import re
import shutil
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from conftest import BUNDLED, FAKE, FakeEncoder
from textual import events
from textual.app import App, ComposeResult
from textual.command import Command, CommandList, CommandPalette
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Collapsible, Markdown, OptionList
from textual.widgets.markdown import MarkdownBlock, MarkdownFence

from qa.library import Library
from qa.models.encoders import register_encoder
from qa.settings import Settings
from qa.store.build import build_index
from qa.tui.app import QAApp
from qa.tui.chat import ChatScreen
from qa.tui.index_controller import IndexController
from qa.tui.messages import BuildStarted, ChannelReady, IndexFailed, IndexOpened
from qa.tui.section import SectionScreen
from qa.tui.widgets import (
    AnswerCard,
    HighlightedMarkdown,
    HistoryInput,
    HitRow,
    ResultsList,
    ResultsPanel,
    StatusLine,
)

SMALL = Path(__file__).parent / "fixtures" / "small"
SIZE = (110, 36)
BATCH_NORM = "6. What is Batch Norm? Any difference for Batch Norm in Training and Inference?"


def pilot_test(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body (it drives the app with a Pilot) in its own event loop."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


class RecordingApp(QAApp):
    """The app, remembering its notifications so tests can read them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("freshness_seconds", 0)
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []
        self.editor_calls: list[list[str]] = []

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        self.notes.append(message)
        super().notify(message, **kwargs)

    def run_editor(self, command: list[str]) -> None:
        self.editor_calls.append(command)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    shutil.copytree(SMALL, folder, ignore=shutil.ignore_patterns("*.jsonl"))
    return folder


@pytest.fixture
def small_index(small: Path, fake_settings: Settings) -> Path:
    folder = small.parent / "index"
    build_index(small, folder, fake_settings)
    return folder


async def until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 90) -> None:
    """Let the app run until ``condition`` holds (workers finish in their own time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the app did not get there in time")
        await pilot.pause(0.02)
    await pilot.pause()


def ready(app: QAApp) -> bool:
    index = app.index
    return index.phase == "ready" and not index.loading_channels and not index.building


def cards(app: QAApp) -> list[AnswerCard]:
    return list(app.chat.query(AnswerCard))


def settled(card: AnswerCard) -> bool:
    return (card.answer is not None and not card.refining) or card.error is not None


async def ask(pilot: Pilot[Any], question: str) -> AnswerCard:
    """Type a question key by key, press Enter, wait for its final answer."""
    app = pilot.app
    assert isinstance(app, QAApp)
    before = len(cards(app))
    await pilot.press(*question, "enter")
    await until(pilot, lambda: len(cards(app)) > before and settled(cards(app)[-1]))
    return cards(app)[-1]


def text_of(widget: Any) -> str:
    return str(widget.render()) if not hasattr(widget, "content") else str(widget.content)


# ---------------------------------------------------------------------------- real models


@pilot_test
async def test_english_question_on_real_startup(bundled_index: Path) -> None:
    """The real start-up path: open the index, load the models, answer."""
    app = RecordingApp(BUNDLED, bundled_index, Settings())
    async with app.run_test(size=SIZE) as pilot:
        assert app.chat.query_one(HistoryInput).has_focus  # usable before anything loads
        await until(pilot, lambda: ready(app))
        status = app.chat.status_content().plain
        assert "bm25 ✓ minilm ✓ e5 ✓" in status and "up to date" in status
        card = await ask(pilot, "what is dropout")
        assert card.heading == "Dropout"
        assert card.has_class("answered") and not card.has_class("declined")
        assert card.answer is not None and card.answer.channels == ("bm25", "minilm", "e5")
        crumb = text_of(card.query_one(".card-crumb"))
        assert crumb.startswith("machine-learning-interviews.md:")
        assert crumb.endswith("› machine-learning-interviews › Dropout")
        assert "strong match" in text_of(card.query_one(".cue"))


@pilot_test
async def test_chinese_question_shows_batch_norm(bundled_index: Path, bundled_searcher) -> None:
    app = RecordingApp(BUNDLED, bundled_index, Settings(), searcher=bundled_searcher)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        card = await ask(pilot, "BN在训练和推理时有什么区别")
        assert card.heading == BATCH_NORM
        assert card.answer is not None and card.answer.lang == "zh"
        # The best window is the second of the section's three; the line is where it starts.
        assert text_of(card.query_one(".card-crumb")) == (
            f"mle-basics-with-zh-questions.md:34 › ML Basics for MLE Interview › {BATCH_NORM}"
        )
        assert text_of(card.query_one(".card-note")) == (
            "Part 2 of 3 · the whole section: Enter on this card, or ctrl+o\n"
            "Also in mle-basics.md:34"
        )
        # The question's words, carried across languages by the glossary, are marked.
        assert card.pattern is not None
        marked = {m.group(0) for m in card.pattern.finditer(card.answer.hits[0].chunk.text)}
        assert {"Batch Norm", "BN", "Training"} <= marked
        # The question bubble keeps the Chinese text intact.
        assert text_of(app.chat.query(".question").last()) == "BN在训练和推理时有什么区别"


@pilot_test
async def test_question_the_notes_do_not_answer(bundled_index: Path, bundled_searcher) -> None:
    app = RecordingApp(BUNDLED, bundled_index, Settings(), searcher=bundled_searcher)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        card = await ask(pilot, "how do I bake bread")
        assert card.has_class("declined")
        assert card.heading == "Your notes don't seem to answer this"
        assert text_of(card.query_one(".cue")).startswith("no clear answer")
        nearest = card.query_one(Collapsible)
        assert nearest.collapsed and nearest.title == "Nearest sections (3)"
        assert not card.query(HighlightedMarkdown)  # no passage is presented as the answer
        nearest.collapsed = False
        await pilot.pause()
        rows = list(nearest.query(HitRow))
        assert len(rows) == 3 and all(row.display for row in rows)


# ---------------------------------------------------------------------------- plumbing


@pilot_test
async def test_opens_without_index_by_building_it(small: Path, fake_settings: Settings) -> None:
    app = RecordingApp(small, small.parent / "index", fake_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        assert any(note.startswith("2 notes, 5 sections: 5 added") for note in app.notes)
        assert app.chat.status_content().plain == (
            "5 sections in 2 notes  ·  bm25 ✓ fake ✓  ·  up to date"
        )
        card = await ask(pilot, "置信区间是什么意思")
        assert card.heading == "置信区间（Confidence Interval）"


@pilot_test
async def test_unanswered_heading_notice(
    small: Path, small_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDITOR", "true")
    app = RecordingApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        card = await ask(pilot, "what is a transformer")
        notice = card.query_one(".card-unanswered")
        assert text_of(notice.query_one(".unanswered-title")) == (
            "Your notes ask this but have no answer yet:"
        )
        row = notice.query_one(HitRow)
        assert "deep-learning.md:13 › Deep learning › What is a transformer?" in text_of(row)
        # Enter on the notice opens the empty section, which invites writing the answer.
        row.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SectionScreen))
        assert app.screen.query_one("#section-empty")
        await pilot.press("o")
        assert app.editor_calls == [["true", "+13", str(small.resolve() / "deep-learning.md")]]


@pilot_test
async def test_a_late_answer_while_the_panel_is_torn_down_is_ignored(
    small: Path, small_index: Path
) -> None:
    app = RecordingApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        card = await ask(pilot, "why does dropout help")
        panel = app.chat.query_one(ResultsPanel)
        await panel.remove_children()  # what closing the app does before a late answer
        panel.show(card.answer, None)  # found a crash at exit in bench/tui_startup.py
        assert not panel.children


@pilot_test
async def test_results_panel_and_section_navigation(small: Path, small_index: Path) -> None:
    app = RecordingApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await ask(pilot, "why does dropout help")
        panel = app.chat.query_one(ResultsPanel)
        assert not panel.display
        await pilot.press("ctrl+r")
        results = app.chat.query_one(ResultsList)
        assert panel.display and results.has_focus
        # The panel lists what search returns, in its order.
        assert app.index.searcher is not None
        expected = [
            h.chunk.heading for h in app.index.searcher.search("why does dropout help").hits
        ]
        assert [h.chunk.heading for h in results.hits] == expected[: len(results.hits)]
        assert expected[:2] == ["Dropout", "Central limit theorem"]
        assert results.option_count == 4
        await pilot.press("down")
        assert results.highlighted == 1
        await pilot.press("up", "enter")
        await until(pilot, lambda: isinstance(app.screen, SectionScreen))
        screen = app.screen
        assert isinstance(screen, SectionScreen)
        assert screen.section.title == "Dropout"
        assert text_of(screen.query_one("#section-crumb")) == (
            "deep-learning.md:3 › Deep learning › Dropout"
        )
        assert "randomly zeroes units" in screen.query_one(Markdown).source
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: screen.section.title == "Batch normalization")
        await pilot.press("right_square_bracket")
        assert screen.section.title == "What is a transformer?"
        await pilot.press("right_square_bracket")  # the last one: says so, stays
        assert screen.section.title == "What is a transformer?"
        assert app.notes[-1] == "No next section at this level."
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert screen.section.title == "Dropout"
        await pilot.press("p")
        assert screen.section.title == "Deep learning"
        assert screen.query_one("#section-children", OptionList).highlighted == 0  # Dropout
        assert text_of(screen.query_one("#section-crumb")) == "deep-learning.md:1 › Deep learning"
        await pilot.press("p")
        assert screen.section.is_root and screen.section.title == "deep-learning.md"
        await pilot.press("y")
        assert app.clipboard == "- Deep learning"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen))
        await pilot.press("escape")  # from the results list back to the question
        assert app.chat.query_one(HistoryInput).has_focus
        await pilot.press("ctrl+r")
        assert not panel.display


@pilot_test
async def test_history_up_and_down(small: Path, small_index: Path) -> None:
    app = RecordingApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await ask(pilot, "why does dropout help")
        await ask(pilot, "central limit")
        field = app.chat.query_one(HistoryInput)
        await pilot.press(*"draft")
        await pilot.press("up")
        assert field.value == "central limit"
        await pilot.press("up")
        assert field.value == "why does dropout help"
        await pilot.press("up")  # the oldest stays
        assert field.value == "why does dropout help"
        await pilot.press("down")
        assert field.value == "central limit"
        await pilot.press("down")
        assert field.value == "draft"
        await pilot.press("ctrl+l")  # clear the conversation; the history stays
        await until(pilot, lambda: not cards(app) and bool(app.chat.query("#welcome")))
        await pilot.press("ctrl+u", "up")
        assert field.value == "central limit"


@pilot_test
async def test_history_is_kept_per_folder_with_declines(
    small: Path, small_index: Path, tmp_path: Path
) -> None:
    from qa.study import history

    path = tmp_path / "history.jsonl"
    app = RecordingApp(small, small_index, FAKE, history_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        first = await ask(pilot, "why does dropout help")
    entries = history.read(path)
    assert [e.question for e in entries] == ["why does dropout help"]
    assert entries[0].source == "chat"
    assert entries[0].declined == first.declined
    again = RecordingApp(small, small_index, FAKE, history_path=path)
    async with again.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(again))
        await pilot.press("up")
        assert again.chat.query_one(HistoryInput).value == "why does dropout help"


@pilot_test
async def test_empty_and_punctuation_questions_warn(small: Path, small_index: Path) -> None:
    app = RecordingApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("enter")
        assert app.notes[-1].startswith("Type a question first")
        await pilot.press(*"   ", "enter")
        assert app.notes[-1].startswith("Type a question first")
        await pilot.press(*"???", "enter")
        assert app.notes[-1] == "Cannot search this: the question has no words in it."
        assert cards(app) == []
        card = await ask(pilot, "dropout")  # still answering
        assert card.heading == "Dropout"


@pilot_test
async def test_copy_and_edit_from_the_answer(
    small: Path, small_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = RecordingApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        card = await ask(pilot, "batch normalization")
        await pilot.press("ctrl+y")
        assert app.clipboard == card.answer.hits[0].chunk.text  # type: ignore[union-attr]
        assert app.notes[-1] == "Copied 2 lines from deep-learning.md:8."
        monkeypatch.setenv("EDITOR", "true")
        card.focus()
        await pilot.pause()
        await pilot.press("ctrl+e")
        assert app.editor_calls == [["true", "+8", str(small.resolve() / "deep-learning.md")]]
        monkeypatch.setenv("EDITOR", "no-such-editor-for-qa")
        bin_dir = small.parent / "bin"
        bin_dir.mkdir()
        (bin_dir / "vi").write_text("#!/bin/sh\n")
        (bin_dir / "vi").chmod(0o755)
        monkeypatch.setenv("PATH", str(bin_dir))
        card.focus()
        await pilot.pause()
        await pilot.press("ctrl+e")  # the editor named cannot run: vi instead, saying so
        problem = "$EDITOR is set to 'no-such-editor-for-qa', which cannot be run"
        assert app.notes[-1] == f"{problem}; opening vi instead."
        assert app.editor_calls[-1][0] == str(bin_dir / "vi")
        monkeypatch.setenv("PATH", str(small.parent))
        card.focus()
        await pilot.pause()
        await pilot.press("ctrl+e")
        assert app.notes[-1] == f"{problem}, and neither nano nor vi is installed."
        card.focus()
        await pilot.pause()
        await pilot.press("enter")  # Enter on the focused card opens the whole section
        await until(pilot, lambda: isinstance(app.screen, SectionScreen))
        assert app.screen.section.title == "Batch normalization"  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- focus


@pilot_test
async def test_typing_goes_to_the_question_box_whatever_has_focus(
    small: Path, small_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18, bug 1: letters typed while a card (or a row, or the results list) has
    focus are the next question, never the keys of what has focus."""
    monkeypatch.setenv("EDITOR", "true")
    app = RecordingApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        card = await ask(pilot, "what is a transformer")  # its card has a HitRow too
        field = app.chat.query_one(HistoryInput)
        await pilot.press("tab")
        assert not field.has_focus
        await pilot.press(*"stop overfitting")
        assert field.has_focus and field.value == "stop overfitting"
        card.focus()
        await pilot.pause()
        await pilot.press(*" oy")
        row = card.query_one(".card-unanswered").query_one(HitRow)
        row.focus()
        await pilot.pause()
        await pilot.press(*"oy")
        await pilot.press("ctrl+r")
        assert app.chat.query_one(ResultsList).has_focus
        await pilot.press(*"!o")
        card.focus()
        await pilot.pause()
        app.post_message(events.Paste(" p"))  # a paste too
        await pilot.pause()
        assert field.has_focus and field.value == "stop overfitting oyoy!o p"
        assert app.editor_calls == [] and app.clipboard == ""
        assert not isinstance(app.screen, SectionScreen)


@pilot_test
async def test_focus_returns_to_the_question_box(
    small: Path, small_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the editor, a copy, a closed panel or the section viewer, the question
    box has focus again; the card's keys still act on that card."""
    monkeypatch.setenv("EDITOR", "true")
    app = RecordingApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        first = await ask(pilot, "batch normalization")
        await ask(pilot, "why does dropout help")
        field = app.chat.query_one(HistoryInput)
        note = str(small.resolve() / "deep-learning.md")
        first.focus()
        await pilot.pause()
        await pilot.press("ctrl+e")  # edit the note of this card, not the latest one
        assert app.editor_calls == [["true", "+8", note]]
        await pilot.pause()
        assert field.has_focus
        first.focus()
        await pilot.pause()
        await pilot.press("ctrl+y")  # copy this card's passage
        assert app.clipboard == first.answer.hits[0].chunk.text  # type: ignore[union-attr]
        await pilot.pause()
        assert field.has_focus
        await pilot.press("ctrl+r")
        results = app.chat.query_one(ResultsList)
        assert results.has_focus
        await pilot.press("ctrl+e")
        assert app.editor_calls[-1] == ["true", "+3", note]  # Dropout, the latest's best
        await pilot.pause()
        assert field.has_focus
        results.focus()
        await pilot.pause()
        await pilot.press("ctrl+r")  # closing the panel
        assert field.has_focus
        first.focus()
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SectionScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen))
        await pilot.pause()
        assert field.has_focus


@pilot_test
async def test_rebuild_after_editing_a_note(small: Path, small_index: Path) -> None:
    app = RecordingApp(small, small_index, FAKE, freshness_seconds=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        assert app.index.freshness is not None and app.index.freshness.fresh
        note = small / "deep-learning.md"
        note.write_text(
            note.read_text(encoding="utf-8")
            + "\n## Gradient clipping\n\nClipping caps the gradient norm so that one bad "
            "batch cannot blow up the weights.\n",
            encoding="utf-8",
        )
        await until(pilot, lambda: not app.index.freshness.fresh)  # type: ignore[union-attr]
        status = app.chat.query_one(StatusLine)
        assert "deep-learning.md changed — ctrl+b to rebuild" in text_of(status)
        assert app.notes[-1] == "deep-learning.md changed — press ctrl+b to rebuild the index."
        searcher = app.index.searcher
        await pilot.press("ctrl+b")
        await until(pilot, lambda: app.index.searcher is not searcher and ready(app))
        assert app.index.freshness.fresh  # type: ignore[union-attr]
        assert text_of(status).endswith("up to date")
        assert "1 added" in app.notes[-1] and "embedded 1 fake" in app.notes[-1]
        card = await ask(pilot, "gradient clipping")
        assert card.heading == "Gradient clipping"
        assert "blow up the weights" in card.answer.hits[0].chunk.text  # type: ignore[union-attr]


@pilot_test
async def test_index_rebuilt_by_another_process_is_picked_up(
    small: Path, small_index: Path, fake_settings: Settings
) -> None:
    """`qa watch` rebuilds the index from outside; the running app notices and reloads,
    keeping the models it has loaded."""
    app = RecordingApp(small, small_index, FAKE, freshness_seconds=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        before = app.index.searcher
        assert before is not None
        (small / "watched.md").write_text("# Early stopping\n\nStop when validation loss rises.\n")
        build_index(small, small_index, fake_settings)  # what qa watch does
        await until(pilot, lambda: app.index.searcher is not before and ready(app))
        assert app.notes[-1].startswith("The index was rebuilt by another qa")
        assert app.index.searcher.encoders["fake"] is before.encoders["fake"]  # type: ignore[union-attr]
        card = await ask(pilot, "early stopping")
        assert card.heading == "Early stopping"


class HeldIndex(IndexController):
    """The index controller, but reopening the index waits until the test lets it go on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hold = threading.Event()
        self.hold.set()
        self.reopens = 0
        self.broken = False  # reloads fail, as for a damaged new generation

    def load_searcher(self) -> Any:
        if self.searcher is not None:  # a reload, not the start-up
            self.reopens += 1
            if not self.hold.wait(timeout=60):
                raise RuntimeError("the test never let the reload go on")
            if self.broken:
                raise RuntimeError("the new index is damaged")
        return super().load_searcher()


class HeldReloadApp(RecordingApp):
    """The app with a ``HeldIndex``."""

    index_controller = HeldIndex

    @property
    def held(self) -> HeldIndex:
        assert isinstance(self.index, HeldIndex)
        return self.index


@pilot_test
async def test_question_after_an_outside_rebuild_uses_the_new_index(
    small: Path, small_index: Path, fake_settings: Settings
) -> None:
    """Issue 18, bug 3: a question asked after another process rebuilt the index, before
    the app noticed (no polling here), is answered from the new index."""
    app = HeldReloadApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        before = app.index.searcher
        (small / "watched.md").write_text("# Early stopping\n\nStop when validation loss rises.\n")
        build_index(small, small_index, fake_settings)  # what qa watch does
        card = await ask(pilot, "early stopping")
        assert card.heading == "Early stopping"
        assert app.index.searcher is not before and app.held.reopens == 1


@pilot_test
async def test_a_rebuilt_index_that_cannot_be_opened_leaves_the_open_one(
    small: Path, small_index: Path, fake_settings: Settings
) -> None:
    """A new generation that fails to open is tried once; questions are answered from the
    index already open, and not searched over and over."""
    app = HeldReloadApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        before = app.index.searcher
        app.held.broken = True
        (small / "watched.md").write_text("# Early stopping\n\nStop when validation loss rises.\n")
        build_index(small, small_index, fake_settings)
        card = await ask(pilot, "why does dropout help")
        assert card.heading == "Dropout" and app.index.searcher is before
        assert app.notes[-1] == "the new index is damaged"
        card = await ask(pilot, "why does dropout help")
        assert card.heading == "Dropout" and app.held.reopens == 1


@pilot_test
async def test_question_while_the_app_picks_up_a_rebuilt_index(
    small: Path, small_index: Path, fake_settings: Settings
) -> None:
    """Issue 18, bug 3: while the app reloads an index rebuilt outside, a question shows at
    once and waits for the new index rather than being answered from the old one."""
    app = HeldReloadApp(small, small_index, FAKE, freshness_seconds=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        before = app.index.searcher
        app.held.hold.clear()
        (small / "watched.md").write_text("# Early stopping\n\nStop when validation loss rises.\n")
        build_index(small, small_index, fake_settings)
        await until(pilot, lambda: app.held.reopens == 1)  # the poll noticed; the reload is held
        await pilot.press(*"early stopping", "enter")
        await pilot.pause(0.3)
        bubbles = list(app.chat.query(".question"))
        assert [text_of(b) for b in bubbles] == ["early stopping"]  # shown at once
        card = cards(app)[-1]
        assert card.answer is None and card.has_class("pending")  # not the old index's answer
        assert text_of(card.query_one(".card-pending")).startswith("Picking up the index")
        await pilot.pause(0.3)  # polls meanwhile must not pile up more reloads
        app.held.hold.set()
        await until(pilot, lambda: settled(card))
        assert app.index.searcher is not before and app.held.reopens == 1
        assert card.heading == "Early stopping"


@pilot_test
async def test_rebuild_from_the_command_palette(small: Path, small_index: Path) -> None:
    app = RecordingApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Rebuild index", "Toggle results panel", "Theme"} <= set(titles)
        searcher = app.index.searcher
        await pilot.press("ctrl+p")
        await pilot.press(*"Rebuild index")
        palette = app.screen
        assert isinstance(palette, CommandPalette)

        def offered() -> bool:
            found = palette.query_one(CommandList)
            if found.highlighted is None:
                return False
            option = found.get_option_at_index(found.highlighted)
            return isinstance(option, Command) and option.hit.text == "Rebuild index"

        await until(pilot, offered)
        await pilot.press("enter")
        await until(pilot, lambda: app.index.searcher is not searcher and ready(app))
        assert "0 added, 0 changed, 0 removed" in app.notes[-1]


@pilot_test
async def test_theme_toggle(small: Path, small_index: Path) -> None:
    app = RecordingApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        assert app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-dark"


@pilot_test
async def test_missing_notes_folder_is_reported(tmp_path: Path) -> None:
    app = RecordingApp(tmp_path / "nowhere", tmp_path / "index", FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.index.phase == "failed")
        assert app.chat.status_content().plain.startswith("No index: notes folder not found:")
        card = await ask(pilot, "what is dropout")
        assert card.has_class("failed")
        assert card.error is not None and card.error.startswith("No index to search: notes")


# ---------------------------------------------------------------------------- slow models


class SlowEncoder(FakeEncoder):
    """The fake encoder, but its first question waits until the test lets it load."""

    name = "slow"
    loaded: ClassVar[threading.Event] = threading.Event()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not SlowEncoder.loaded.wait(timeout=60):
            raise RuntimeError("the slow model never loaded")
        return super().embed_queries(texts)


register_encoder("slow", SlowEncoder)
SLOW = Settings(models=("slow",), weights={"bm25": 1.0, "slow": 1.0})


@pilot_test
async def test_question_before_models_load_is_refined(small: Path) -> None:
    SlowEncoder.loaded.clear()
    build_index(small, small.parent / "index", SLOW)
    app = RecordingApp(small, small.parent / "index", SLOW)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.index.phase == "ready")
        assert app.index.loading_channels == ("slow",)
        assert "bm25 ✓ slow …" in app.chat.status_content().plain
        await pilot.press(*"batch normalization", "enter")
        await until(pilot, lambda: bool(cards(app)) and cards(app)[-1].answer is not None)
        card = cards(app)[-1]
        assert card.answer.channels == ("bm25",)  # type: ignore[union-attr]
        assert card.refining == ("slow",) and card.has_class("refining")
        assert text_of(card.query_one(".card-refining")) == "⟳ refining… waiting for slow"
        SlowEncoder.loaded.set()
        await until(pilot, lambda: settled(card) and card.answer.channels == ("bm25", "slow"))  # type: ignore[union-attr]
        assert not card.query(".card-refining") and not card.has_class("refining")
        assert card.heading == "Batch normalization"
        assert "bm25 ✓ slow ✓" in app.chat.status_content().plain


# ---------------------------------------------------------------------------- index controller


class ControllerHost(App[None]):
    """A tiny app with only the index controller, recording the messages that bubble up."""

    def __init__(self, lib: Library) -> None:
        super().__init__()
        self.controller = IndexController(lib, freshness_seconds=0)
        self.seen: list[tuple[str, Any]] = []
        self.notes: list[str] = []

    def compose(self) -> ComposeResult:
        yield self.controller

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        self.notes.append(message)

    def on_build_started(self, message: BuildStarted) -> None:
        self.seen.append(("build", bool(message.reason)))  # it says why

    def on_index_opened(self, message: IndexOpened) -> None:
        report = message.report
        self.seen.append(("opened", report.added if report is not None else None))

    def on_index_failed(self, message: IndexFailed) -> None:
        self.seen.append(("failed", message.message))

    def on_channel_ready(self, message: ChannelReady) -> None:
        self.seen.append(("ready", message.channel))


@pilot_test
async def test_the_index_controller_works_without_the_chat_app(small: Path) -> None:
    """The controller builds a missing index, opens it and loads its model in its own
    workers; each step reaches the host as a message, after the controller has kept it."""
    host = ControllerHost(Library(small, small.parent / "index", FAKE))
    async with host.run_test() as pilot:
        index = host.controller
        await until(pilot, lambda: index.phase == "ready" and not index.loading_channels)
        assert host.seen == [("build", True), ("opened", 5), ("ready", "fake")]
        assert index.channels == {"bm25": "ready", "fake": "ready"} and not index.building
        assert index.searcher is not None and index.freshness is not None
        assert index.freshness.fresh
        assert host.notes[-1].startswith("2 notes, 5 sections: 5 added")
        index.rebuild()
        index.rebuild()  # while the first one runs
        assert host.notes[-1] == "A rebuild is already running."
        await until(pilot, lambda: len(host.seen) == 6 and not index.building)
        assert host.seen[3:] == [("build", True), ("opened", 0), ("ready", "fake")]


@pilot_test
async def test_the_index_controller_reports_a_folder_it_cannot_read(tmp_path: Path) -> None:
    host = ControllerHost(Library(tmp_path / "nowhere", tmp_path / "index", FAKE))
    async with host.run_test() as pilot:
        index = host.controller
        await until(pilot, lambda: index.phase == "failed")
        assert host.seen == [("build", True), ("failed", index.problem)]  # nothing to build
        assert index.problem.startswith("notes folder not found:") and index.searcher is None
        assert host.notes == [index.problem] and not index.building


# ---------------------------------------------------------------------------- widgets


class MarkdownHost(App[None]):
    """A tiny app that shows one highlighted passage."""

    def compose(self) -> ComposeResult:
        yield HighlightedMarkdown(
            "**Dropout** helps; see [dropout](x).\n\n```python\ndropout = 0.5\n```\n",
            pattern=re.compile("dropout", re.IGNORECASE),
        )


@pilot_test
async def test_highlighted_markdown_marks_words_but_not_code() -> None:
    app = MarkdownHost()
    async with app.run_test() as pilot:
        await pilot.pause()
        paragraph, fence = list(app.query(MarkdownBlock))
        content = paragraph.visual
        assert isinstance(content, Content)
        assert content.plain == "Dropout helps; see dropout."
        marks = [(s.start, s.end) for s in content.spans if s.style == ".markdown--highlight"]
        assert marks == [(0, 7), (19, 26)]
        # Bold and the link survive under the marks.
        assert {s.style for s in content.spans if (s.start, s.end) == (0, 7)} >= {".strong"}
        assert type(fence) is MarkdownFence  # code blocks are never touched
        assert fence.code == "dropout = 0.5"


# ---------------------------------------------------------------------------- helpers


def test_editor_command(tmp_path: Path) -> None:
    from qa.tui.editor import editor_command

    note = tmp_path / "a.md"
    assert editor_command(note, 12, {"EDITOR": "true"}) == ["true", "+12", str(note)]
    assert editor_command(note, 12, {"VISUAL": "true -x", "EDITOR": "false"}) == [
        "true",
        "-x",
        "+12",
        str(note),
    ]
    nothing = str(tmp_path / "no-bin")
    assert editor_command(note, 3, {"EDITOR": "no-such-editor-for-qa"}, search=nothing) is None
    assert editor_command(note, 0, {"EDITOR": "true"}) == ["true", "+1", str(note)]


@pytest.mark.parametrize(
    ("confidence", "declined", "text"),
    [
        (0.97, False, "strong match · 97%"),
        (0.7, False, "likely · 70%"),
        (0.5, False, "weak match · 50%"),
        (0.2, True, "no clear answer · 20%"),
    ],
)
def test_confidence_cue(confidence: float, declined: bool, text: str) -> None:
    from qa.retrieve.confidence import confidence_cue
    from qa.retrieve.search import Answer

    answer = Answer("q", "en", [object()], [], ("bm25",))  # type: ignore[list-item]
    answer.confidence, answer.declined = confidence, declined
    assert confidence_cue(answer).text(confidence) == text


# ---------------------------------------------------------------------------- snapshots


def _snapshot_app(small: Path, index: Path) -> RecordingApp:
    return RecordingApp(small, index, FAKE)


async def _answered(pilot: Pilot[Any], question: str = "why does dropout help") -> None:
    app = pilot.app
    assert isinstance(app, QAApp)
    await until(pilot, lambda: ready(app))
    await ask(pilot, question)
    field = app.chat.query_one(HistoryInput)
    field.cursor_blink = False


# Notes whose every section is about "why does dropout help", each less than the one before
# (all of its words, then two, then one), so the card's further results come in the order
# of relevance and not in the fake encoder's order of unrelated sections.
GRADED_EN = {
    "dropout.md": "# Why dropout helps\n\nDropout helps because it keeps units from co-adapting, "
    "so each unit must be useful on its own. At test time every unit is kept and the weights "
    "are scaled.\n\n"
    "# Dropout in training\n\nDropout helps during training only; it is switched off at "
    "test time.\n\n"
    "# Dropout rate\n\nA dropout rate of 0.5 is common for hidden layers.\n",
}


def _graded(tmp_path: Path, name: str, files: dict[str, str], settings: Settings) -> Path:
    notes = tmp_path / name
    notes.mkdir()
    for file, text in files.items():
        (notes / file).write_text(text, encoding="utf-8")
    build_index(notes, tmp_path / f"{name}-index", settings)
    return notes


def test_snapshot_answer(snap_compare: Any, tmp_path: Path, fake_settings: Settings) -> None:
    notes = _graded(tmp_path, "graded-en", GRADED_EN, fake_settings)

    async def run_before(pilot: Pilot[Any]) -> None:
        await _answered(pilot)
        cards(pilot.app)[-1].query_one(Collapsible).collapsed = False  # type: ignore[arg-type]

    assert snap_compare(
        _snapshot_app(notes, tmp_path / "graded-en-index"),
        terminal_size=(100, 36),
        run_before=run_before,
    )


# Notes whose every section is about the question, each less than the one before (the
# whole question, then fewer of its words, then one), so the panel's order is the
# order of relevance and not the fake encoder's order of unrelated sections.
GRADED = {
    "统计.md": "# 置信区间是什么意思\n\n置信区间是什么意思：置信区间给出一个范围，"
    "按同样方法多次构造时，有 95% 的区间包含总体均值。\n\n"
    "# 置信区间的宽度\n\n样本越大，置信区间越窄。\n\n"
    "# 区间估计\n\n点估计给出一个值，区间估计给出一个范围。\n",
}


def test_snapshot_results_panel(snap_compare: Any, tmp_path: Path, fake_settings: Settings) -> None:
    notes = _graded(tmp_path, "graded", GRADED, fake_settings)

    async def run_before(pilot: Pilot[Any]) -> None:
        await _answered(pilot, "置信区间是什么意思")
        await pilot.press("ctrl+r")

    assert snap_compare(
        _snapshot_app(notes, tmp_path / "graded-index"),
        terminal_size=(120, 32),
        run_before=run_before,
    )


def test_snapshot_section_light(snap_compare: Any, small: Path, small_index: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _answered(pilot, "置信区间")
        await pilot.press("ctrl+o", "ctrl+t")
        await until(pilot, lambda: isinstance(pilot.app.screen, SectionScreen))

    assert snap_compare(
        _snapshot_app(small, small_index), terminal_size=(90, 20), run_before=run_before
    )


def test_a_heading_the_notes_ask_shows_its_placeholder_not_its_markup() -> None:
    from qa.retrieve.search import Hit
    from qa.store.chunks import Chunk, Location
    from qa.tui.widgets import HitRow

    def shown(text: str) -> str:
        place = Location("n.md", 3, 5, ("Notes", "GC"), 3)
        return str(
            HitRow(
                Hit(Chunk("i", ("Notes", "GC"), text, False, locations=[place], asks=True), 1, 0.5)
            ).visual
        )

    assert shown("> [GC explained](http://example.com/gc) - blog").endswith(
        "\n> [GC explained](http://example.com/gc) - blog"
    )
    assert shown("```python\n```") == "GC\nn.md:3 › Notes › GC"  # an empty fence shows nothing
