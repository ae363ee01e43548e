"""qa gaps: empty headings, where the answer may already be, duplicates, what to write next.

The fixture notes (tests/fixtures/gaps) have an empty heading answered in another note
(dropout), one answered nowhere (tomatoes) and the same empty question in two notes
(bias-variance); they are indexed once with the real bundled models.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import shared_index
from test_tui import RecordingApp, pilot_test, until
from textual.widgets import OptionList

from qa import places
from qa.cli import main
from qa.retrieve.search import Searcher
from qa.settings import Settings
from qa.store.build import build_index
from qa.store.index import Index
from qa.study import gaps, history
from qa.tui.gaps import GapsScreen, Row
from qa.tui.section import SectionScreen

GAPS = Path(__file__).parent / "fixtures" / "gaps"
DROPOUT = gaps.Place("deep-learning.md", 3, ("Deep learning", "Dropout"))
ASK_DROPOUT = ("statistics.md", 10)
TOMATOES = ("statistics.md", 12)
BIAS_DL = ("deep-learning.md", 16)
BIAS_STATS = ("statistics.md", 14)


@pytest.fixture(scope="session")
def gaps_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_index(tmp_path_factory, "gaps", GAPS)


@pytest.fixture(scope="session")
def gaps_searcher(gaps_index: Path) -> Searcher:
    return Searcher(Index.load(gaps_index), Settings())


@pytest.fixture(scope="session")
def report(gaps_searcher: Searcher) -> gaps.GapsReport:
    return gaps.find_gaps(gaps_searcher)


def by_place(report: gaps.GapsReport) -> dict[tuple[str, int], gaps.Gap]:
    return {(g.place.file, g.place.line): g for g in report.gaps}


def qa(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def where(index: Path) -> list[str]:
    return ["--corpus", str(GAPS), "--index", str(index), "--no-build"]


RULES = Path(__file__).parent / "fixtures" / "gaps_rules"
TEMPLATE = Path(__file__).parent / "fixtures" / "gaps_template"


@pytest.fixture(scope="session")
def rules_report(tmp_path_factory: pytest.TempPathFactory) -> gaps.GapsReport:
    index = shared_index(tmp_path_factory, "gaps-rules", RULES)
    return gaps.find_gaps(Searcher(Index.load(index), Settings()))


# ---------------------------------------------------------------------------- the core


def test_every_empty_heading_is_listed_by_note(report: gaps.GapsReport) -> None:
    assert {f: [g.place.line for g in found] for f, found in report.by_note().items()} == {
        "deep-learning.md": [16],
        "statistics.md": [10, 12, 14],
    }
    assert by_place(report)[TOMATOES].place.heading_path == (
        "Statistics",
        "Interview questions",
        "How do you grow tomatoes on a balcony?",
    )


def test_an_empty_heading_answered_in_another_note(report: gaps.GapsReport) -> None:
    gap = by_place(report)[ASK_DROPOUT]
    assert not gap.declined and gap.confidence >= 0.5
    assert gap.candidates[0].place == DROPOUT
    assert 1 <= len(gap.candidates) <= gaps.CANDIDATES
    # Never its own place, nor another empty heading.
    assert all(c.chunk.answered for c in gap.candidates)


def test_an_empty_heading_answered_nowhere_is_declined(report: gaps.GapsReport) -> None:
    gap = by_place(report)[TOMATOES]
    assert gap.declined and gap.candidates == [] and not gap.answered_elsewhere
    assert gap.confidence < 0.5
    assert report.answered_elsewhere == 1


def test_the_same_empty_question_in_two_notes_is_a_duplicate(report: gaps.GapsReport) -> None:
    found = by_place(report)
    assert [(d.place.file, d.place.line) for d in found[BIAS_DL].duplicates] == [BIAS_STATS]
    assert [(d.place.file, d.place.line) for d in found[BIAS_STATS].duplicates] == [BIAS_DL]
    assert found[BIAS_DL].duplicates[0].similarity >= gaps.DUPLICATE_THRESHOLD
    assert found[TOMATOES].duplicates == [] and found[ASK_DROPOUT].duplicates == []


def test_duplicate_score_blends_cosine_and_word_overlap() -> None:
    assert gaps.word_overlap("What is dropout?", "Dropout: what is it") == 1.0
    assert gaps.word_overlap("What is dropout?", "How do tomatoes grow") == 0.0
    assert gaps.duplicate_score(0.8, 0.5, dense=0.5) == pytest.approx(0.65)
    assert gaps.duplicate_score(-0.2, 0.0) == 0.0


def test_declined_questions_are_distinct_and_forget_those_answered_later() -> None:
    entries = [
        history.Asked("How to grow tomatoes", 1, "chat", declined=True),
        history.Asked("how to  grow tomatoes", 2, "ask", declined=True),
        history.Asked("what is dropout", 3, "ask", declined=True),
        history.Asked("what is dropout", 4, "chat", declined=False),  # answered now
        history.Asked("quantum entanglement", 5, "chat", declined=None),  # not known
    ]
    assert gaps.declined_questions(entries) == ["How to grow tomatoes"]


def test_declined_questions_cluster_by_topic(gaps_searcher: Searcher) -> None:
    found = gaps.question_encoder(gaps_searcher)
    assert found is not None and found[0] == "e5"  # it reads both languages
    embed = gaps.question_embedder(gaps_searcher)
    assert embed is not None
    asked = [
        "how do I grow tomatoes on a balcony",
        "what is quantum entanglement",
        "tomato plants on a balcony: how much water",
        "番茄怎么种",
        "explain quantum entanglement",
    ]
    topics = gaps.cluster_questions(asked, embed)
    groups = sorted(sorted(t.questions) for t in topics)
    assert groups == sorted([sorted([asked[0], asked[2], asked[3]]), sorted([asked[1], asked[4]])])
    assert topics[0].count == 3 and topics[0].label in (asked[0], asked[2], asked[3])
    assert gaps.cluster_questions(["only one"], embed)[0].count == 1
    assert gaps.cluster_questions([], embed) == []


def test_without_a_dense_model_questions_with_the_same_words_group() -> None:
    topics = gaps.cluster_questions(["grow tomatoes", "tomatoes grow", "dropout"], None)
    assert sorted(t.count for t in topics) == [1, 2]


# ---------------------------------------------------------------------------- the command


def test_gaps_text_groups_by_note(gaps_index: Path) -> None:
    result = qa("gaps", *where(gaps_index))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "4 headings in 2 notes ask a question with nothing under it; 1 may be answered elsewhere."
    )
    assert lines[2] == "deep-learning.md"
    assert (
        lines[3] == "     16  Deep learning › Open questions › What is the bias-variance tradeoff?"
    )
    assert lines[4] == "         nothing in your notes yet"
    assert lines[5].startswith("         = same question at statistics.md:14  Explain the")
    stats = lines.index("statistics.md")
    assert lines[stats + 1] == (
        "     10  Statistics › Interview questions › What is dropout in neural networks?"
    )
    assert lines[stats + 2].startswith(
        "         → deep-learning.md:3  Deep learning › Dropout  (confidence "
    )
    tomatoes = lines.index(
        "     12  Statistics › Interview questions › How do you grow tomatoes on a balcony?"
    )
    assert lines[tomatoes + 1] == "         nothing in your notes yet"


def test_gaps_json(gaps_index: Path) -> None:
    result = qa("gaps", "--json", *where(gaps_index))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["count"] == 4 and data["answered_elsewhere"] == 1
    notes = {n["file"]: n["gaps"] for n in data["notes"]}
    dropout = next(g for g in notes["statistics.md"] if g["line"] == 10)
    assert dropout["declined"] is False
    assert dropout["candidates"][0]["file"] == "deep-learning.md"
    assert dropout["candidates"][0]["heading_path"] == ["Deep learning", "Dropout"]
    tomatoes = next(g for g in notes["statistics.md"] if g["line"] == 12)
    assert tomatoes["declined"] is True and tomatoes["candidates"] == []
    (bias,) = notes["deep-learning.md"]
    assert [(d["file"], d["line"]) for d in bias["duplicates"]] == [BIAS_STATS]
    assert data["write_next"] == []


def test_gaps_markdown_checklist(gaps_index: Path, tmp_path: Path) -> None:
    out = tmp_path / "gaps.md"
    result = qa("gaps", "--markdown", str(out), *where(gaps_index))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote {out} (4 empty headings).\n"
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Gaps in gaps\n")
    assert "## statistics.md" in text and "## deep-learning.md" in text
    lines = text.splitlines()
    tomatoes = lines.index(
        "- [ ] **How do you grow tomatoes on a balcony?** (statistics.md:12, "
        "Statistics › Interview questions › How do you grow tomatoes on a balcony?)"
    )
    assert lines[tomatoes + 1] == "  - nothing in your notes yet"
    assert "  - maybe answered in deep-learning.md:3 Deep learning › Dropout (confidence" in text


def test_gaps_markdown_refuses_a_folder_in_one_line(gaps_index: Path, tmp_path: Path) -> None:
    result = qa("gaps", "--markdown", str(tmp_path), *where(gaps_index))
    assert result.exit_code == 1
    assert result.stderr == (
        f"qa: error: --markdown needs a file name, and {tmp_path} is a folder\n"
    )
    missing = tmp_path / "no" / "such" / "gaps.md"
    result = qa("gaps", "--markdown", str(missing), *where(gaps_index))
    assert result.exit_code == 1
    assert result.stderr == f"qa: error: no such file or directory: {missing}\n"
    result = qa("gaps", "--json", "--markdown", str(tmp_path / "x.md"), *where(gaps_index))
    assert result.exit_code == 1 and "choose one of --json and --markdown" in result.stderr


def test_ask_records_its_question_and_gaps_lists_the_declined(
    gaps_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = places.history_path(GAPS)
    assert str(path).startswith(str(tmp_path / "state"))
    assert qa("ask", "why does dropout reduce overfitting", *where(gaps_index)).exit_code == 0
    assert qa("ask", "how do I grow tomatoes", "--json", *where(gaps_index)).exit_code == 0
    assert qa("ask", "tomatoes on a balcony", "--files", *where(gaps_index)).exit_code == 0
    # Questions on stdin are a batch, not something a person asked: not recorded.
    assert qa("ask", "--json", *where(gaps_index), input="what is dropout\n").exit_code == 0
    entries = history.read(path)
    assert [(e.question, e.source, e.declined) for e in entries] == [
        ("why does dropout reduce overfitting", "ask", False),
        ("how do I grow tomatoes", "ask", True),
        ("tomatoes on a balcony", "ask", True),
    ]
    assert entries[0].best == "deep-learning.md:3"
    data = json.loads(qa("gaps", "--json", *where(gaps_index)).stdout)
    assert data["declined_questions"] == 2
    (topic,) = data["write_next"]
    assert topic["count"] == 2
    assert sorted(topic["questions"]) == ["how do I grow tomatoes", "tomatoes on a balcony"]
    text = qa("gaps", *where(gaps_index)).stdout.splitlines()
    assert text[-2] == "What to write next (2 declined questions):"
    assert text[-1] in ("    2 × how do I grow tomatoes", "    2 × tomatoes on a balcony")


def test_heading_vectors_compare_what_headings_ask(gaps_searcher: Searcher) -> None:
    """Each heading is embedded alone (not its path), measured from the average passage."""
    headings = ["What is dropout?", "什么是 dropout", "How do you grow tomatoes?"]
    minilm, e5 = gaps.heading_vectors(gaps_searcher, headings)
    assert minilm.shape == (3, 384) and e5.shape == (3, 384)
    assert np.allclose(np.linalg.norm(e5, axis=1), 1.0)
    for m in (minilm, e5):
        assert m[0] @ m[1] > m[0] @ m[2] + 0.2
    assert gaps.clean_heading("Q12.为什么dropout能减少过拟合") == "为什么dropout能减少过拟合"
    assert gaps.clean_heading("5. What is Drop-out?") == "What is Drop-out?"
    assert gaps.clean_heading("矩阵链乘法 TODO") == "矩阵链乘法"
    assert gaps.clean_heading("2024") == "2024"


# ---------------------------------------------------------------------------- the Gaps screen


@pytest.fixture
def gaps_notes(tmp_path: Path, gaps_index: Path) -> tuple[Path, Path]:
    """A writable copy of the fixture notes and its index (real models): the session's
    index copied and updated for the copy, so nothing is embedded again."""
    folder = tmp_path / "notes"
    shutil.copytree(GAPS, folder)
    shutil.copytree(gaps_index, tmp_path / "index")
    report = build_index(folder, tmp_path / "index", Settings())
    assert report.embedded == {"minilm": 0, "e5": 0}
    return folder, tmp_path / "index"


def rows_text(screen: GapsScreen) -> list[str]:
    listing = screen.query_one(OptionList)
    return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]


def highlight(screen: GapsScreen, wanted: Callable[[Row], bool]) -> None:
    index = next(i for i, r in enumerate(screen.rows) if r is not None and wanted(r))
    screen.query_one(OptionList).highlighted = index


@pilot_test
async def test_gaps_screen_opens_candidates_edits_and_follows_the_index(
    gaps_notes: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDITOR", "true")
    notes, index = gaps_notes
    history.record(
        tmp_path / "history.jsonl",
        history.Asked("how do I grow tomatoes", 1.0, "chat", declined=True),
    )
    app = RecordingApp(
        notes, index, Settings(), history_path=tmp_path / "history.jsonl", freshness_seconds=0.2
    )
    async with app.run_test(size=(110, 36)) as pilot:
        await until(pilot, lambda: app.index.phase == "ready")
        await pilot.press("ctrl+g")
        assert isinstance(app.screen, GapsScreen)
        screen = app.screen
        await until(pilot, lambda: screen.updates == 1)
        text = rows_text(screen)
        assert text[0] == "deep-learning.md"
        assert text[1].startswith("  What is the bias-variance tradeoff?  deep-learning.md:16")
        assert (
            "nothing in your notes yet" in text[1] and "also asked at statistics.md:14" in text[1]
        )
        assert text[2] == "statistics.md"
        assert text[3].startswith("  What is dropout in neural networks?  statistics.md:10")
        assert text[4].startswith("      → deep-learning.md:3 › Deep learning › Dropout")
        assert text[-2].startswith("What to write next")
        assert text[-1] == "  how do I grow tomatoes  × 1"

        # Enter on a candidate opens its section; on a gap, its first candidate.
        highlight(screen, lambda r: r.candidate is not None)
        await pilot.press("enter")
        assert isinstance(app.screen, SectionScreen)
        assert app.screen.section.heading_path == ("Deep learning", "Dropout")
        await pilot.press("escape")
        assert app.screen is screen
        highlight(screen, lambda r: r.gap.place.heading.startswith("How do you grow tomatoes"))
        await pilot.press("enter")
        assert app.screen is screen and app.notes[-1].startswith("Nothing in your notes answers")

        # ctrl+e opens the empty heading in the editor, at its line.
        await pilot.press("ctrl+e")
        assert app.editor_calls == [["true", "+12", str(notes.resolve() / "statistics.md")]]

        # The answer is written and the notes re-indexed (what qa watch does): the list
        # follows the new index by itself.
        note = notes / "statistics.md"
        note.write_text(
            note.read_text(encoding="utf-8").replace(
                "### How do you grow tomatoes on a balcony?\n",
                "### How do you grow tomatoes on a balcony?\n\nIn big pots, in full sun.\n",
            ),
            encoding="utf-8",
        )
        build_index(notes, index, Settings())
        await until(pilot, lambda: screen.updates == 2)
        assert screen.report is not None and len(screen.report.gaps) == 3
        assert not any("tomatoes on a balcony" in line for line in rows_text(screen)[:-2])


@pilot_test
async def test_gaps_is_in_the_command_palette(gaps_notes: tuple[Path, Path]) -> None:
    notes, index = gaps_notes
    app = RecordingApp(notes, index, Settings())
    async with app.run_test(size=(110, 36)) as pilot:
        await until(pilot, lambda: app.index.phase == "ready")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Gaps: what your notes ask but do not answer" in titles
        command = next(c for c in app.get_system_commands(app.screen) if c.title.startswith("Gaps"))
        command.callback()
        await pilot.pause()
        assert isinstance(app.screen, GapsScreen)


def test_gaps_of_notes_without_empty_headings(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("# Dropout\n\nDropout zeroes random units.\n", encoding="utf-8")
    args = ["--corpus", str(notes), "--index", str(tmp_path / "index"), "--model", "fake"]
    result = qa("gaps", *args)
    assert result.exit_code == 0, result.output
    assert result.stdout == "No heading in your notes is waiting for an answer.\n"


def test_a_heading_with_only_a_link_is_a_gap_and_a_list_of_links_is_not() -> None:
    from qa.store.chunking import chunk_markdown
    from qa.store.chunks import chunks_from_sections

    text = (
        "# Python\n\n## Garbage collection\n\n> [GC explained](http://example.com/gc) - blog\n\n"
        "## Further reading\n\n- [a](http://example.com/a)\n- [b](http://example.com/b)\n\n"
        "## Strings\n\nStrings are immutable.\n\n## Decorators\n\nTODO\n\n"
        "## Generators\n\n```python\n```\n"
    )
    chunks = chunks_from_sections(chunk_markdown(text, "python.md"))
    found = gaps.empty_headings(chunks)
    assert [place.heading for _, place in found] == [
        "Garbage collection",
        "Decorators",
        "Generators",
    ]
    # What the heading holds instead of an answer is shown with it (text, JSON, Markdown).
    noted = [gaps.Gap(place, chunks[row], place.heading) for row, place in found]
    assert [g.placeholder for g in noted] == [
        "> [GC explained](http://example.com/gc) - blog",
        "TODO",
        "",  # an empty code fence holds nothing to show
    ]
    assert noted[0].to_json()["placeholder"] == noted[0].placeholder
    report = gaps.GapsReport(noted, [], 0)
    assert "  - noted: TODO" in gaps.markdown_report(report, Path("notes")).splitlines()


def test_a_question_the_notes_ask_but_do_not_answer_is_declined(gaps_searcher: Searcher) -> None:
    # The empty heading that asks it ranks above every answer: the decline model's
    # asked_first.
    asked = gaps_searcher.search("how do you grow tomatoes on a balcony", 3)
    assert [h.chunk.heading for h in asked.unanswered][:1] == [
        "How do you grow tomatoes on a balcony?"
    ]
    assert asked.features["asked_first"] == 1.0 and asked.declined
    answered = gaps_searcher.search("what does the central limit theorem say", 3)
    assert answered.features["asked_first"] == 0.0 and not answered.declined


# ------------------------------------------------------------------------ what answers a heading


def test_a_heading_is_answered_elsewhere_not_by_its_neighbours(
    rules_report: gaps.GapsReport,
) -> None:
    # Adam, beside the empty "Momentum", says momentum three times; the author wrote the
    # heading next to it because it does not answer it. Another note does.
    momentum = by_place(rules_report)[("optimizers.md", 9)]
    assert momentum.place.heading == "Momentum"
    assert [c.place.key() for c in momentum.candidates][:1] == ["sgd.md#Momentum"]
    assert all(c.place.file != "optimizers.md" for c in momentum.nearest)
    assert momentum.about and momentum.to_json()["about"] is True


def test_a_section_that_only_mentions_a_heading_does_not_answer_it(
    rules_report: gaps.GapsReport,
) -> None:
    # GloVe's section names SVD twice but is about GloVe: "SVD" is still to be written.
    svd = by_place(rules_report)[("embeddings.md", 12)]
    assert svd.place.heading == "SVD"
    assert [c.place.heading for c in svd.nearest][:1] == ["GloVe"]  # what the search finds
    assert svd.declined and not svd.candidates
    assert svd.to_json()["about"] is False  # why it is declined, however confident


def test_the_neighbours_left_out_are_the_heading_s_own_part_of_its_note() -> None:
    from qa.store.chunking import chunk_markdown
    from qa.store.chunks import chunks_from_sections

    def chunks(*notes: tuple[str, str]) -> list:
        return chunks_from_sections([s for f, t in notes for s in chunk_markdown(t, f)])

    optim = "# Optim\n\n## Adam\n\nMoments.\n\n## Momentum\n\n# Other\n\n## Warm-up\n\nSteps.\n"
    sgd = "# SGD\n\n## Momentum\n\nVelocity.\n\n## Nesterov\n\nLook ahead.\n\n## Batch\n\nSize.\n"
    both = chunks(("optim.md", optim), ("sgd.md", sgd))
    momentum = gaps.Place("optim.md", 7, ("Optim", "Momentum"))
    left = {both[r].heading for r in gaps.neighbours(both, momentum)}
    assert left == {"Adam", "Momentum"}  # not "Warm-up" under another parent, nor sgd.md
    # One note is all there is: no elsewhere to prefer, so nothing is left out.
    alone = chunks(("optim.md", optim))
    assert gaps.neighbours(alone, momentum) == []


def test_a_note_without_a_title_heading_is_named_by_its_file(
    rules_report: gaps.GapsReport,
) -> None:
    # Dropout.md has no "# Dropout": its sections are headed "Definition" and "At inference
    # time", and its file name says what they are about.
    dropout = next(g for g in rules_report.gaps if g.place.heading == "Dropout")
    assert dropout.candidates and dropout.candidates[0].place.file == "Dropout.md"


def test_a_chinese_topic_counts_where_its_characters_are() -> None:
    from types import SimpleNamespace

    from qa.lang.text import tokenize
    from qa.store.chunks import Chunk, Location

    searcher = SimpleNamespace(tokenizer=SimpleNamespace(tokenize=tokenize))
    # jieba's search mode cuts 判断平衡二叉树 into 平衡, 二叉 and 二叉树: 二叉 is no topic.
    terms = [{("平衡",)}, {("二叉",)}, {("二叉树",)}]
    assert gaps._whole_words(terms) == [{("平衡",)}, {("二叉树",)}]

    def heads(*path: str) -> bool:
        place = Location("树.md", 1, 2, path)
        chunk = Chunk("c", path, "正文", True, locations=[place])
        return gaps._heads(searcher, chunk, terms)  # type: ignore[arg-type]

    assert heads("二叉树的深度")  # 二叉树 is in it, however jieba cuts the phrase
    assert heads("平衡二叉树")
    assert not heads("树的子结构")


def test_a_heading_many_notes_share_is_listed_but_not_searched_or_paired(
    rules_report: gaps.GapsReport,
) -> None:
    # Three notes end with an empty "Reference": a slot of their template. Each asks for
    # its own note's reading list: no other note answers it, and they are not one question.
    slots = [g for g in rules_report.gaps if g.place.heading == "Reference"]
    assert sorted(g.place.file for g in slots) == ["Dropout.md", "embeddings.md", "optimizers.md"]
    for slot in slots:
        assert slot.template and slot.shared == 3 and slot.to_json()["template"] is True
        assert not slot.candidates and not slot.nearest and not slot.duplicates
    # An empty heading of one note only is searched as before.
    momentum = by_place(rules_report)[("optimizers.md", 9)]
    assert not momentum.template and momentum.candidates


def test_a_heading_other_notes_answer_is_searched_however_many_notes_have_it(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """ "Dropout" heads a section in three notes, but two of them answer it: a topic, not a
    template slot. Only headings left unanswered in three notes are slots."""
    index = shared_index(tmp_path_factory, "gaps-template", TEMPLATE)
    report = gaps.find_gaps(Searcher(Index.load(index), Settings()))
    dropout = by_place(report)[("c.md", 3)]
    assert dropout.place.heading == "Dropout" and not dropout.template and dropout.shared == 1
    assert dropout.nearest and {c.place.file for c in dropout.nearest} <= {"a.md", "b.md"}
    slots = [g for g in report.gaps if g.place.heading == "Reference"]
    assert len(slots) == 3 and all(g.template and not g.duplicates for g in slots)
