"""qa quiz: cards from the notes, FSRS scheduling in SQLite, the drill screen, --stats.

Notes are small fixture folders indexed with the fake encoder (conftest); the clock is a
fake one, so due dates are exact; the kill -9 test kills a real subprocess mid-session.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FAKE, ROOT
from test_tui import SMALL, pilot_test, until

from qa.cli import main
from qa.lang.glossary import load_glossary
from qa.store.build import build_index
from qa.store.index import Index
from qa.study.quiz import (
    answer_coverage,
    answering_sentences,
    cards_from_sections,
    generated_front,
    is_question,
    key_terms,
    sections_of,
)
from qa.study.quiz_store import QuizStore, open_drill, store_path
from qa.tui.quiz import QuizApp, QuizScreen

EN_NOTE = """\
# Deep learning

## Why does dropout help?

Dropout randomly zeroes units during training. The network cannot rely on any one unit.

## Dropout

Dropout is a regularizer that drops units at random while training.

### Purpose

It keeps units from co-adapting.

## Q12: bias and variance

Bias is error from wrong assumptions; variance is error from sensitivity to the data.

## Regularization

**What does L2 regularization do?**
It shrinks the weights towards zero.

## What is a transformer?

## References

- a link
"""

ZH_NOTE = """\
# 机器学习

## 什么是过拟合？

过拟合是指模型在训练集上表现很好，但在测试集上表现差。

## BN和LN的区别

BN 在批次维度上归一化，LN 在特征维度上归一化。

## 如何选择学习率

先用学习率搜索，再逐步衰减。

## 正则化

正则化通过惩罚大的权重来减少过拟合。
"""

LONG_NOTE = "# Long\n\n## Why is this section long?\n\n" + "\n\n".join(
    f"Paragraph {i} says something about long sections and windows number {i}." * 3
    for i in range(12)
)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "en.md").write_text(EN_NOTE, encoding="utf-8")
    (folder / "zh").mkdir()
    (folder / "zh" / "ml.md").write_text(ZH_NOTE, encoding="utf-8")
    return folder


@pytest.fixture
def index(notes: Path) -> Path:
    folder = notes.parent / "index"
    build_index(notes, folder, FAKE)
    return folder


def chunks(index_dir: Path) -> list[Any]:
    return Index.load(index_dir, channels=()).chunks


def fronts(index_dir: Path) -> dict[str, tuple[str, bool]]:
    cards = cards_from_sections(sections_of(chunks(index_dir)))
    return {c.key: (c.front, c.generated) for c in cards}


# ---------------------------------------------------------------------------- cards


def test_cards_from_question_headings_in_both_languages(index: Path) -> None:
    assert fronts(index) == {
        "en.md::Deep learning › Why does dropout help?": ("Why does dropout help?", False),
        "en.md::Deep learning › Dropout": ("What is dropout?", True),
        "en.md::Deep learning › Dropout › Purpose": ("Purpose of dropout?", True),
        "en.md::Deep learning › Q12: bias and variance": ("Q12: bias and variance", False),
        "en.md::Deep learning › Regularization": ("What does L2 regularization do?", False),
        "zh/ml.md::机器学习 › 什么是过拟合？": ("什么是过拟合？", False),
        "zh/ml.md::机器学习 › BN和LN的区别": ("BN和LN的区别", False),
        "zh/ml.md::机器学习 › 如何选择学习率": ("如何选择学习率", False),
        "zh/ml.md::机器学习 › 正则化": ("什么是正则化？", True),
    }  # the unanswered "What is a transformer?" and the list of links make no card


def test_bold_question_line_is_the_front_and_not_the_back(index: Path) -> None:
    card = next(
        c
        for c in cards_from_sections(sections_of(chunks(index)))
        if c.front.startswith("What does")
    )
    assert card.back == "It shrinks the weights towards zero."
    assert card.line == 19 and card.lang == "en"


@pytest.mark.parametrize(
    ("heading", "question"),
    [
        ("Why is the sky blue?", True),
        ("How to choose an optimizer", True),
        ("L1 vs L2 regularization", True),
        ("Q3. 说下bp的过程", True),
        ("为什么dropout能减少过拟合", True),
        ("什么是支持向量", True),
        ("Boosting 与 Bagging 的区别", True),
        ("导致偏差和方差的原因", True),
        ("Dropout", False),
        ("Batch normalization", False),
        ("支持向量机", False),
    ],
)
def test_is_question(heading: str, question: bool) -> None:
    assert is_question(heading) is question


def test_generated_fronts_follow_the_heading_language() -> None:
    assert generated_front("Batch Normalization") == "What is batch normalization?"
    assert generated_front("CNN") == "What is CNN?"
    assert generated_front("支持向量机") == "什么是支持向量机？"
    assert generated_front("原理", parent="支持向量机") == "支持向量机的原理是什么？"
    assert generated_front("A heading far too long to be a topic of any interview card") is None


def test_windows_of_one_section_make_one_card(tmp_path: Path) -> None:
    folder = tmp_path / "long"
    folder.mkdir()
    (folder / "long.md").write_text(LONG_NOTE, encoding="utf-8")
    build_index(folder, tmp_path / "index", FAKE)
    all_chunks = chunks(tmp_path / "index")
    assert max(c.parts for c in all_chunks) > 1  # the section really is windowed
    cards = cards_from_sections(sections_of(all_chunks))
    assert [c.front for c in cards] == ["Why is this section long?"]
    assert "Paragraph 0 says" in cards[0].back and "Paragraph 11 says" in cards[0].back


def test_no_generated_leaves_them_out_and_is_remembered(index: Path, tmp_path: Path) -> None:
    store = QuizStore(tmp_path / "q.sqlite", FakeClock(START))
    drill = open_drill(store, chunks(index), generated=False)
    assert {c.front for c in drill.selected()} == {
        "Why does dropout help?",
        "Q12: bias and variance",
        "What does L2 regularization do?",
        "什么是过拟合？",
        "BN和LN的区别",
        "如何选择学习率",
    }
    again = open_drill(QuizStore(tmp_path / "q.sqlite", FakeClock(START)), chunks(index))
    assert not again.generated and len(again.selected()) == 6
    on = open_drill(store, chunks(index), generated=True)
    assert len(on.selected()) == 9


def test_first_sentence_is_the_answering_sentence() -> None:
    text = "Dropout randomly zeroes units. The network cannot rely on one unit."
    assert answering_sentences("Why?", text) == ["Dropout randomly zeroes units."]
    assert answering_sentences("为什么？", "```\ncode\n```\n过拟合是指模型表现差。然后") == [
        "过拟合是指模型表现差。"
    ]


# ---------------------------------------------------------------------------- scheduling


def test_fsrs_due_dates_follow_the_grades(index: Path, tmp_path: Path) -> None:
    clock = FakeClock(START)
    store = QuizStore(tmp_path / "q.sqlite", clock)
    drill = open_drill(store, chunks(index), new_per_day=20)
    keys = [c.key for c in drill.selected()]
    again = store.grade(keys[0], 1)
    good = store.grade(keys[1], 3)
    easy = store.grade(keys[2], 4)
    assert again.due - START == timedelta(minutes=1)  # the first learning step
    assert good.due - START == timedelta(minutes=10)  # the second learning step
    assert easy.due - START >= timedelta(days=1)  # straight to review
    assert again.due < good.due < easy.due
    # A card answered "good" at each due time is shown at longer and longer intervals.
    gaps = []
    due = good.due
    for _ in range(3):
        clock.now = due
        review = store.grade(keys[1], 3)
        gaps.append(review.due - clock.now)
        due = review.due
    assert gaps[0] < gaps[1] < gaps[2]
    assert len(store.reviews()) == 6


def test_drill_shows_due_cards_then_new_ones_within_the_daily_allowance(
    index: Path, tmp_path: Path
) -> None:
    clock = FakeClock(START)
    store = QuizStore(tmp_path / "q.sqlite", clock)
    drill = open_drill(store, chunks(index), new_per_day=2)
    assert drill.counts().new == 2
    first = drill.current
    assert first is not None and not first.generated  # the notes' own questions first
    drill.grade(1)  # again: due in a minute
    second = drill.current
    assert second is not None and second.key != first.key
    drill.grade(4)
    assert drill.current is None  # two new cards today, and the first is not due yet
    assert drill.next_due() == START + timedelta(minutes=1)
    assert drill.counts() == type(drill.counts())(due=1, new=0, done=2)
    clock.advance(minutes=2)
    assert drill.refresh() is not None and drill.current.key == first.key


KILLER = """
import sys, time
from pathlib import Path
from datetime import datetime, UTC
sys.path.insert(0, {root!r})
from qa.store.index import Index
from qa.study.quiz_store import QuizStore, open_drill
store = QuizStore(Path({db!r}))
drill = open_drill(store, Index.load(Path({index!r}), channels=()).chunks, new_per_day=100)
n = 0
while True:
    card = drill.current or drill.cards[n % len(drill.cards)]
    store.grade(card.key, 1 + n % 4)
    n += 1
    print(n, card.key, flush=True)
    drill.refresh()
"""


def test_kill_9_mid_session_loses_no_committed_review(index: Path, tmp_path: Path) -> None:
    db = tmp_path / "state" / "quiz.sqlite"
    script = KILLER.format(root=str(ROOT), db=str(db), index=str(index))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    printed = [proc.stdout.readline() for _ in range(15)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    store = QuizStore(db)
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    reviews = store.reviews()
    assert len(reviews) >= 15  # every review printed was committed before the print
    assert [r["rating"] for r in reviews[:15]] == [1 + n % 4 for n in range(15)]
    assert all(line.strip() for line in printed)


def test_note_edit_marks_the_card_changed_and_due_now(
    notes: Path, index: Path, tmp_path: Path
) -> None:
    clock = FakeClock(START)
    store = QuizStore(tmp_path / "q.sqlite", clock)
    drill = open_drill(store, chunks(index))
    key = "en.md::Deep learning › Why does dropout help?"
    review = store.grade(key, 4)
    clock.advance(hours=1)
    assert review.due > clock.now and not drill.is_changed(drill.cards[0])
    note = notes / "en.md"
    note.write_text(
        note.read_text().replace("cannot rely on any one unit", "must spread its weight"),
        encoding="utf-8",
    )
    build_index(notes, index, FAKE)
    drill = open_drill(store, chunks(index))
    card = next(c for c in drill.cards if c.key == key)
    assert drill.is_changed(card)
    assert drill.current is not None and drill.current.key == key  # due now, before new ones
    drill.grade(3)
    assert not drill.is_changed(card)


def test_deleted_section_retires_its_card(notes: Path, index: Path, tmp_path: Path) -> None:
    store = QuizStore(tmp_path / "q.sqlite", FakeClock(START))
    open_drill(store, chunks(index))
    key = "zh/ml.md::机器学习 › 如何选择学习率"
    store.grade(key, 3)
    note = notes / "zh" / "ml.md"
    text = note.read_text()
    note.write_text(text.replace("## 如何选择学习率\n\n先用学习率搜索，再逐步衰减。\n\n", ""))
    build_index(notes, index, FAKE)
    drill = open_drill(store, chunks(index))
    row = store.rows()[key]
    assert row.retired and len(store.reviews()) == 1  # kept, with its history
    assert key not in {c.key for c in drill.cards}
    assert store.stats().retired == 1


# ---------------------------------------------------------------------------- typed answers


def test_a_chinese_answer_covers_an_english_back() -> None:
    from qa.lang.dictionary import load_dictionary

    back = "Overfitting means the model does well on training data but badly on test data."
    coverage = answer_coverage("过拟合：模型在训练数据上好", back, load_glossary(), None)
    assert coverage.covered == ["Overfitting", "model", "training data"]  # glossary terms
    assert coverage.missed[0] == "test data"
    # A word the glossary lacks counts through the dictionary: 稳定 says "stable".
    back = "Bagging is stable: it takes the majority vote of many trees."
    without = answer_coverage("多数投票，很稳定", back, load_glossary(), None)
    assert without.covered == ["majority vote"] and "stable" in without.missed
    with_dictionary = answer_coverage("多数投票，很稳定", back, load_glossary(), load_dictionary())
    assert with_dictionary.covered == ["majority vote", "stable"]


# ---------------------------------------------------------------------------- the drill screen


class RecordingQuizApp(QuizApp):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.editor_calls: list[list[str]] = []

    def run_editor(self, command: list[str]) -> None:
        self.editor_calls.append(command)


def screen_of(app: QuizApp) -> QuizScreen:
    screen = app.screen
    assert isinstance(screen, QuizScreen)
    return screen


def text(app: QuizApp, selector: str) -> str:
    from textual.widgets import Static

    return str(app.screen.query_one(selector, Static).content)


SIZE = (100, 34)


@pilot_test
async def test_drill_reveal_grade_and_editor(
    notes: Path, index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISUAL", "true")
    clock = FakeClock(START)
    store = QuizStore(tmp_path / "q.sqlite", clock)
    drill = open_drill(store, chunks(index))
    app = RecordingQuizApp(drill, notes)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        assert text(app, "#quiz-front") == "Why does dropout help?"
        assert text(app, "#quiz-status").startswith("Quiz · due today 0 · new 9 · done 0")
        await pilot.press("3", "4", "o", "s")  # typing: into the answer box, nothing fires
        assert screen.answer_box.value == "34os" and not screen.revealed
        assert store.reviews() == [] and app.editor_calls == []
        screen.answer_box.value = ""
        await pilot.press("space")  # space in an empty box reveals
        assert screen.revealed and app.screen.query_one("#quiz-back").display
        back = screen.query_one("#quiz-back")
        assert back.highlight_pattern is not None  # type: ignore[attr-defined]
        assert back.highlight_pattern.pattern.startswith("(?<![A-Za-z0-9])Dropout")  # type: ignore[attr-defined]
        await pilot.press("o")
        assert app.editor_calls == [["true", "+3", str((notes / "en.md").resolve())]]
        await pilot.press("1")  # again
        reviews = store.reviews()
        assert [(r["rating"]) for r in reviews] == [1]
        assert text(app, "#quiz-front") == "Q12: bias and variance"
        assert text(app, "#quiz-status").startswith("Quiz · due today 1 · new 8 · done 1")
        await pilot.press("escape", "x")  # leave the box, suspend
        assert store.rows()["en.md::Deep learning › Q12: bias and variance"].suspended
        assert text(app, "#quiz-front") == "What does L2 regularization do?"


@pilot_test
async def test_typed_answer_coverage_is_shown_after_reveal(
    notes: Path, index: Path, tmp_path: Path
) -> None:
    store = QuizStore(tmp_path / "q.sqlite", FakeClock(START))
    drill = open_drill(store, chunks(index), lang="zh")
    app = RecordingQuizApp(drill, notes, load_glossary())
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        assert text(app, "#quiz-front") == "什么是过拟合？"
        screen.answer_box.value = "overfitting: good on the training set"
        await pilot.press("enter")
        await until(pilot, lambda: bool(screen.coverage_text))
        covers, also, _ = screen.coverage_text.split("\n")
        assert covers.startswith("Your answer covers: ") and "训练集" in covers
        assert "过拟合" in covers and "测试集" in also
        assert store.reviews() == []  # a hint only


@pilot_test
async def test_in_and_lang_filters(notes: Path, index: Path, tmp_path: Path) -> None:
    store = QuizStore(tmp_path / "q.sqlite", FakeClock(START))
    seen = []
    drill = open_drill(store, chunks(index), paths=["zh"], generated=False)
    app = RecordingQuizApp(drill, notes)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(3):
            seen.append(text(app, "#quiz-front"))
            await pilot.press("space", "4")
        assert text(app, "#quiz-front") == "Nothing due."
    assert seen == ["什么是过拟合？", "BN和LN的区别", "如何选择学习率"]
    english = open_drill(store, chunks(index), lang="en", generated=False)
    assert {c.file for c in english.selected()} == {"en.md"}


@pilot_test
async def test_nothing_due_says_when_the_next_card_is(
    notes: Path, index: Path, tmp_path: Path
) -> None:
    clock = FakeClock(START)
    store = QuizStore(tmp_path / "q.sqlite", clock)
    drill = open_drill(store, chunks(index), paths=["en.md"], generated=False)
    dues = [store.grade(c.key, 4).due for c in drill.selected()]
    drill.refresh()
    app = RecordingQuizApp(drill, notes)
    async with app.run_test(size=SIZE):
        assert text(app, "#quiz-front") == "Nothing due."
        first = min(dues).astimezone()
        days = round((min(dues) - START).total_seconds() / 86400)
        expected = (
            f"tomorrow at {first:%H:%M} (in {days} days)"
            if days == 1
            else f"on {first:%Y-%m-%d} (in {days} days)"
        )
        assert text(app, "#quiz-empty") == f"The next card is due {expected}."
        assert not screen_of(app).answer_box.display


# ---------------------------------------------------------------------------- command line


def test_stats_and_png(
    notes: Path, index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    clock = FakeClock(datetime.now(UTC) - timedelta(minutes=10))  # --stats reads today
    store = QuizStore(store_path(notes), clock)
    open_drill(store, chunks(index))
    forgotten = "en.md::Deep learning › Q12: bias and variance"
    for rating in (1, 1, 3):
        store.grade(forgotten, rating)
        clock.advance(minutes=2)
    store.grade("en.md::Deep learning › Why does dropout help?", 4)
    png = tmp_path / "stats.png"
    result = CliRunner().invoke(
        main,
        [
            "quiz",
            "--corpus",
            str(notes),
            "--index",
            str(index),
            "--model",
            "fake",
            "--stats",
            "--png",
            str(png),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    out = result.output
    day = clock.now.astimezone().date().isoformat()
    assert any(
        line.split("│")[1:4] == [f" {day} ", "       4 ", "     2 "] for line in out.splitlines()
    ), out
    # Retention counts repeat reviews only: Q12's second (again) and third (good).
    assert "│ retention (repeat reviews not 'again') │ 50% │" in out
    assert "Q12: bias and variance" in out.split("Most forgotten")[1]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_add_a_question_you_asked(
    notes: Path, index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    built = tmp_path / "cli-index"  # built by the command, with the models it names
    args = ["quiz", "--corpus", str(notes), "--index", str(built), "--model", "fake"]
    result = CliRunner().invoke(main, [*args, "--add", "why is dropout useful"])
    assert result.exit_code == 0, result.output
    added = [line for line in result.output.splitlines() if not line.startswith("qa: ")]
    assert added[0].startswith("Added: why is dropout useful  →  en.md:")  # after progress
    store = QuizStore(store_path(notes))
    drill = open_drill(store, chunks(built))
    asked = [c for c in drill.cards if c.source == "asked"]
    assert [c.front for c in asked] == ["why is dropout useful"]
    assert "Dropout" in asked[0].back
    bad = CliRunner().invoke(main, [*args, "--png", "x.png"])
    assert bad.exit_code == 1 and bad.output == "qa: error: --png goes with --stats\n"


# ---------------------------------------------------------------------------- in the chat app


@pilot_test
async def test_f2_and_ctrl_k_in_the_chat_app(tmp_path: Path) -> None:
    from test_tui import RecordingApp, ask, ready

    small = tmp_path / "small"
    shutil.copytree(SMALL, small, ignore=shutil.ignore_patterns("*.jsonl"))
    small_index = tmp_path / "small-index"
    build_index(small, small_index, FAKE)

    app = RecordingApp(small, small_index, FAKE, quiz_path=tmp_path / "chat-quiz.sqlite")
    async with app.run_test(size=(110, 36)) as pilot:
        await until(pilot, lambda: ready(app))
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Quiz: drill your notes" in titles
        card = await ask(pilot, "why does dropout help")
        card.focus()
        await pilot.press("ctrl+k")
        assert app.notes[-1] == "Added to the quiz: why does dropout help → Dropout"
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, QuizScreen)
        asked = [c for c in screen.drill.cards if c.source == "asked"]
        assert [(c.front, c.file, c.section.heading) for c in asked] == [
            ("why does dropout help", "deep-learning.md", "Dropout")
        ]
        assert text(app, "#quiz-front") == "why does dropout help"  # a real question first
        await pilot.press(*"zeroes units", "enter", "3")
        assert len(screen.drill.store.reviews()) == 1
        await pilot.press("escape")  # the next card's answer box loses the focus first
        assert isinstance(app.screen, QuizScreen)
        await pilot.press("escape")
        assert app.screen is app.chat


def test_question_words_are_never_key_terms() -> None:
    back = "The pooling layer reduces the size of the feature maps, which saves compute."
    shown = [t.shown for t in key_terms(back, load_glossary())]
    assert "which" not in shown and "pooling layer" in shown


def test_bad_input_is_one_line(
    notes: Path, index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    args = ["quiz", "--corpus", str(notes), "--index", str(index), "--model", "fake"]
    outside = CliRunner().invoke(main, [*args, "--in", str(tmp_path)])
    assert outside.exit_code == 1
    assert outside.output == f"qa: error: {tmp_path} is not inside the notes folder {notes}\n"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg2"))  # no connection open on it
    path = store_path(notes)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    damaged = CliRunner().invoke(main, [*args, "--stats"])
    assert damaged.exit_code == 1 and "\n" not in damaged.output.rstrip("\n")
    assert damaged.output.startswith(f"qa: error: cannot use the review file {path}: ")


def test_sources_are_not_key_terms_nor_the_answering_sentence() -> None:
    back = (
        "> geekcircle/machine-learning-interview-qa/4.md\n\n"
        "- 欧式距离和余弦相似度都能度量两个向量之间的相似度。放到向量空间中看……\n\n"
        "> [欧氏距离和余弦相似度的区别是什么？](https://www.zhihu.com/question/19640394)"
    )
    assert answering_sentences("区别", back) == [
        "欧式距离和余弦相似度都能度量两个向量之间的相似度。"
    ]
    shown = [t.shown for t in key_terms(back, load_glossary())]
    assert not {"machine-learning", "interview", "qa", "zhihu", "www"} & set(shown)
    assert "向量" in shown


def test_a_front_in_both_languages_is_drilled_in_either() -> None:
    from qa.study.quiz import question_language

    assert question_language("What is dropout? 什么是dropout？") == "both"
    assert question_language("为什么dropout能减少过拟合") == "zh"
    assert question_language("What is BN?") == "en"


def test_a_section_copied_into_two_notes_is_one_card(notes: Path, tmp_path: Path) -> None:
    (notes / "copy.md").write_text(EN_NOTE, encoding="utf-8")
    build_index(notes, tmp_path / "index2", FAKE)
    cards = cards_from_sections(sections_of(chunks(tmp_path / "index2")))
    dropout = [c for c in cards if c.front == "Why does dropout help?"]
    assert [c.file for c in dropout] == ["copy.md"]
    assert len(cards) == 9
