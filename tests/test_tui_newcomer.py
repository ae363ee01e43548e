"""The chat app for a newcomer: /in PATH, the help screen, narrow terminals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE
from test_tui import (  # helpers and fixtures, not tests
    SIZE,
    RecordingApp,
    _answered,
    ask,
    pilot_test,
    ready,
    small,
    small_index,
    text_of,
    until,
)
from textual.pilot import Pilot

from qa.store.build import build_index
from qa.study import history
from qa.tui.present import middle_cut
from qa.tui.widgets import AnswerCard, HistoryInput, ResultsList, ResultsPanel, StatusLine

__all__ = ["small", "small_index"]  # fixtures used by name


def status(app: RecordingApp) -> str:
    return str(app.chat.query_one(StatusLine).render())


@pilot_test
async def test_in_searches_one_note_and_in_alone_clears(small: Path, small_index: Path) -> None:
    app = RecordingApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        card = await ask(pilot, "why does dropout help")
        assert card.answer is not None
        assert {h.chunk.location.file for h in card.answer.hits} == {
            "deep-learning.md",
            "statistics.md",
        }
        await pilot.press(*"/in statistics.md", "enter")
        await pilot.pause()
        assert app.chat.within == ("statistics.md",)
        assert app.chat.query_one(HistoryInput).value == ""
        assert "in statistics.md" in status(app)
        card = await ask(pilot, "why does dropout help")
        assert card.answer is not None and card.answer.hits
        assert {h.chunk.location.file for h in card.answer.hits} == {"statistics.md"}
        await pilot.press("ctrl+r")
        title = text_of(app.chat.query_one(ResultsPanel).query_one("#results-title"))
        assert title == "Top results in statistics.md for “why does dropout help”"
        await pilot.press("escape", *"/in nowhere", "enter")
        await pilot.pause()
        assert app.notes[-1] == f"/in: no note or folder nowhere in {small.resolve()}."
        assert app.chat.within == ("statistics.md",)  # unchanged, and the text is left to fix
        assert app.chat.query_one(HistoryInput).value == "/in nowhere"
        app.chat.query_one(HistoryInput).value = ""
        await pilot.press(*"/in", "enter")
        await pilot.pause()
        assert app.chat.within == () and "in statistics.md" not in status(app)
        card = await ask(pilot, "why does dropout help")
        assert card.answer is not None
        assert "deep-learning.md" in {h.chunk.location.file for h in card.answer.hits}


@pilot_test
async def test_the_chat_records_the_hits_for_qa_open(
    small: Path, small_index: Path, tmp_path: Path
) -> None:
    path = tmp_path / "history.jsonl"
    app = RecordingApp(small, small_index, FAKE, history_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        card = await ask(pilot, "why does dropout help")
        await pilot.press(*"/in", "enter")
        await pilot.pause()
    entry = history.last(path)
    assert entry is not None and card.answer is not None
    assert entry.question == "why does dropout help"  # /in is not a question
    assert entry.hits == [
        f"{h.chunk.location.file}:{h.chunk.location.start_line}" for h in card.answer.hits
    ]


def help_text(app: RecordingApp) -> list[str]:
    return [text_of(s) for s in app.screen.query(".help-line")]


@pilot_test
async def test_f1_and_question_mark_open_the_help(small: Path, small_index: Path) -> None:
    from qa.tui.help import HelpScreen

    app = RecordingApp(small, small_index, FAKE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        lines = help_text(app)
        assert any(line.startswith("/in PATH ") for line in lines)
        assert any(line.startswith("ctrl+r ") and "results" in line for line in lines)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        field = app.chat.query_one(HistoryInput)
        assert field.has_focus and field.value == ""
        await pilot.press("question_mark")  # empty box: help
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("question_mark")  # closes it again
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press(*"what is dropout", "question_mark")  # inside a question: text
        await pilot.pause()
        assert field.value == "what is dropout?"
        assert not isinstance(app.screen, HelpScreen)


def test_the_help_lists_every_key_of_qas_screens() -> None:
    """No binding of the chat app or the section viewer is missing from the help."""
    from qa.tui.app import QAApp
    from qa.tui.chat import ChatScreen
    from qa.tui.help import HELP
    from qa.tui.section import SectionScreen
    from qa.tui.widgets import KEYS_FOR_A_PASSAGE

    listed = {key.strip() for _, keys, _ in HELP for key in keys.split(" / ")}
    named = {"left_square_bracket": "[", "right_square_bracket": "]"}
    for owner in (ChatScreen.BINDINGS, QAApp.BINDINGS, SectionScreen.BINDINGS, KEYS_FOR_A_PASSAGE):
        for binding in owner:
            for key in binding.key.split(","):  # type: ignore[union-attr]
                assert named.get(key, key) in listed, key
    assert len({(where, keys) for where, keys, _ in HELP}) == len(HELP)  # one line each


# ---------------------------------------------------------------------------- narrow


DEEP = "chapter-one/a-rather-long-folder-name"


@pytest.fixture
def deep_index(small: Path, fake_settings) -> Path:
    """The small notes plus one note far down a long folder path."""
    folder = small / DEEP
    folder.mkdir(parents=True)
    (folder / "regularisation-notes.md").write_text(
        "# Regularisation\n\n## Dropout and friends\n\nDropout zeroes units; weight decay too.\n",
        encoding="utf-8",
    )
    index = small.parent / "index"
    build_index(small, index, fake_settings)
    return index


async def _panel_open(pilot: Pilot[Any]) -> None:
    await _answered(pilot)
    await pilot.press("ctrl+r")
    await pilot.pause()


@pilot_test
async def test_at_80_columns_the_panel_overlays_the_card(small: Path, deep_index: Path) -> None:
    app = RecordingApp(small, deep_index, FAKE)
    async with app.run_test(size=(80, 24)) as pilot:
        await _panel_open(pilot)
        card = app.chat.query(AnswerCard).last()
        panel = app.chat.query_one(ResultsPanel)
        assert app.chat.has_class("-narrow")
        assert card.region.width >= 60  # not squeezed to a few columns
        assert panel.region.overlaps(card.region)  # drawn over it instead
        paths = [line.plain.split("\n")[-1].strip() for line in _prompts(app)]
        assert paths[0] == "chapter-one/a-rather-lo…/regularisation-notes.md:3"
        assert all(len(p) <= panel.region.width - 6 for p in paths)
        await pilot.press("ctrl+r")  # closed: the card is as wide as before
        await pilot.pause()
        assert not panel.display


@pilot_test
async def test_at_120_columns_the_panel_sits_beside_the_card(small: Path, deep_index: Path) -> None:
    app = RecordingApp(small, deep_index, FAKE)
    async with app.run_test(size=(120, 40)) as pilot:
        await _panel_open(pilot)
        card = app.chat.query(AnswerCard).last()
        panel = app.chat.query_one(ResultsPanel)
        assert not app.chat.has_class("-narrow")
        assert card.region.right <= panel.region.x  # side by side
        paths = [line.plain.split("\n")[-1].strip() for line in _prompts(app)]
        assert paths[0].endswith("/regularisation-notes.md:3") and "…" in paths[0]
        await pilot.resize_terminal(80, 24)  # narrowed while open: it overlays now
        await pilot.pause(0.2)
        assert app.chat.has_class("-narrow")
        assert panel.region.overlaps(card.region)


def _prompts(app: RecordingApp) -> list[Any]:
    results = app.chat.query_one(ResultsList)
    return [results.get_option_at_index(i).prompt for i in range(results.option_count)]


@pytest.mark.parametrize(
    ("text", "width", "cut"),
    [
        ("deep-learning.md:3", 40, "deep-learning.md:3"),
        ("chapter-one/a-rather-long-folder-name/notes.md:12", 30, "chapter-one/a-rat…/notes.md:12"),
        ("a/very-long-file-name-for-a-note.md:120", 20, "a/very…a-note.md:120"),
        ("第一章/很长的文件夹名字/笔记.md:7", 20, "第一章/很…/笔记.md:7"),
    ],
)
def test_paths_are_cut_in_the_middle(text: str, width: int, cut: str) -> None:
    from rich.cells import cell_len

    assert middle_cut(text, width) == cut
    assert cell_len(cut) <= width


def test_snapshot_narrow_80x24(snap_compare: Any, small: Path, deep_index: Path) -> None:
    assert snap_compare(
        RecordingApp(small, deep_index, FAKE), terminal_size=(80, 24), run_before=_panel_open
    )


def test_snapshot_wide_120x40(snap_compare: Any, small: Path, deep_index: Path) -> None:
    assert snap_compare(
        RecordingApp(small, deep_index, FAKE), terminal_size=(120, 40), run_before=_panel_open
    )
