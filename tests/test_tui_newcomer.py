"""The chat app for a newcomer: /in PATH, the help screen, narrow terminals."""

from __future__ import annotations

from pathlib import Path

from conftest import FAKE
from test_tui import (  # helpers and fixtures, not tests
    SIZE,
    RecordingApp,
    ask,
    pilot_test,
    ready,
    small,
    small_index,
    text_of,
    until,
)

from qa import history
from qa.tui.widgets import HistoryInput, ResultsPanel, StatusLine

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
        assert app.within == ("statistics.md",)
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
        assert app.within == ("statistics.md",)  # unchanged, and the text is left to fix
        assert app.chat.query_one(HistoryInput).value == "/in nowhere"
        app.chat.query_one(HistoryInput).value = ""
        await pilot.press(*"/in", "enter")
        await pilot.pause()
        assert app.within == () and "in statistics.md" not in status(app)
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
    from qa.tui.app import ChatScreen, QAApp
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
