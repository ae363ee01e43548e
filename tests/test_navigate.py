"""Rebuilding each note's tree of sections from an index's chunks."""

from pathlib import Path

import pytest

from qa.library import Library
from qa.retrieve.navigate import Outline
from qa.settings import Settings
from qa.store.chunking import chunk_markdown, chunk_note
from qa.store.chunks import chunks_from_sections
from qa.store.index import OUTLINE, read_outline

NOTE = """\
# Deep learning

## Regularisation

### Dropout

Dropout zeroes units.

### Weight decay

Weight decay shrinks weights.

## Normalisation

Intro to normalisation.

### Batch norm

Batch statistics.

### What is layer norm?

# Appendix

Last words.
"""


@pytest.fixture
def outline() -> Outline:
    sections, holders = chunk_note(NOTE, "dl.md")
    copy, copy_holders = chunk_note("# Copy\n\n### Dropout\n\nDropout zeroes units.\n", "copy.md")
    return Outline(chunks_from_sections(sections + copy), holders + copy_holders)


def test_tree_of_a_note(outline: Outline) -> None:
    root = outline.root("dl.md")
    assert root is not None and root.is_root and root.title == "dl.md"
    assert [c.title for c in root.children] == ["Deep learning", "Appendix"]
    deep = root.children[0]
    assert [c.title for c in deep.children] == ["Regularisation", "Normalisation"]
    assert [c.title for c in deep.children[0].children] == ["Dropout", "Weight decay"]
    assert [c.title for c in deep.children[1].children] == ["Batch norm", "What is layer norm?"]
    assert outline.files == ["copy.md", "dl.md"]


def test_headings_without_text_get_their_lines_from_the_holders(outline: Outline) -> None:
    deep = outline.root("dl.md").children[0]  # type: ignore[union-attr]
    regularisation = deep.children[0]
    assert (deep.line, deep.line_known, deep.text) == (1, True, "")
    assert (regularisation.line, regularisation.line_known) == (3, True)
    assert regularisation.end_line == 11


def test_holders_with_the_same_heading_keep_their_own_lines() -> None:
    note = "# A\n\n## Part\n\n### x\n\nOne.\n\n# B\n\n## Part\n\n### y\n\nTwo.\n"
    sections, holders = chunk_note(note, "n.md")
    outline = Outline(chunks_from_sections(sections), holders)
    tops = outline.root("n.md").children  # type: ignore[union-attr]
    assert [(t.title, t.line) for t in tops] == [("A", 1), ("B", 9)]
    assert [(t.children[0].title, t.children[0].line) for t in tops] == [("Part", 3), ("Part", 11)]
    assert all(t.line_known and t.children[0].line_known for t in tops)


def test_an_index_stores_its_outline_and_navigation_never_reads_the_notes(
    tmp_path: Path, fake_settings: Settings
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "dl.md").write_text(NOTE, encoding="utf-8")
    lib = Library(notes, tmp_path / "index", fake_settings)
    index = lib.open().index
    (notes / "dl.md").write_text("# Something else entirely\n", encoding="utf-8")
    outline = Outline.of(index)
    deep = outline.root("dl.md").children[0]  # type: ignore[union-attr]
    assert (deep.title, deep.line, deep.line_known) == ("Deep learning", 1, True)
    assert (deep.children[0].title, deep.children[0].line) == ("Regularisation", 3)
    # A damaged outline file is skipped record by record, never trusted.
    (index.folder / OUTLINE).write_text(
        '{"file": "elsewhere.md", "heading_path": ["Deep learning"], "line": 1}\n'
        '{"file": "dl.md", "heading_path": ["Deep learning"], "line": -4}\nnot json\n'
    )
    assert read_outline(index) == []
    deep = Outline.of(index).root("dl.md").children[0]  # type: ignore[union-attr]
    assert (deep.line, deep.line_known) == (5, False)


def test_without_holders_lines_are_approximate(tmp_path: Path) -> None:
    outline = Outline(chunks_from_sections(chunk_markdown(NOTE, "dl.md")))
    deep = outline.root("dl.md").children[0]  # type: ignore[union-attr]
    assert (deep.line, deep.line_known) == (5, False)  # its first sub-section's line


def test_section_of_a_chunk_and_its_neighbours(outline: Outline) -> None:
    dropout = outline.find("dl.md", 5)
    assert dropout is not None
    assert (dropout.title, dropout.text, dropout.end_line) == (
        "Dropout",
        "Dropout zeroes units.",
        7,
    )
    assert [(p.file, p.section_line) for p in dropout.places] == [("copy.md", 3)]
    assert outline.next(dropout).title == "Weight decay"  # type: ignore[union-attr]
    assert outline.previous(dropout) is None
    assert dropout.parent.title == "Regularisation"  # type: ignore[union-attr]
    normalisation = dropout.parent.parent.children[1]  # type: ignore[union-attr]
    assert normalisation.text == "Intro to normalisation."
    unanswered = normalisation.children[1]
    assert (unanswered.title, unanswered.answered, unanswered.text) == (
        "What is layer norm?",
        False,
        "",
    )
    assert outline.next(unanswered) is None
    # The same text in two notes is one chunk; each place has its own section.
    chunk_places = [outline.find("copy.md", 3), dropout]
    assert all(s is not None and s.text == "Dropout zeroes units." for s in chunk_places)
    assert [s.title for s in outline.siblings(outline.root("dl.md"))] == ["copy.md", "dl.md"]  # type: ignore[arg-type]


def test_windows_of_a_long_section_are_joined_in_order(tmp_path: Path) -> None:
    paragraphs = [f"Paragraph {n} " + "word " * 40 for n in range(6)]
    note = "# Long\n\n" + "\n\n".join(paragraphs) + "\n"
    chunks = chunks_from_sections(chunk_markdown(note, "long.md", window_chars=300))
    assert len(chunks) > 1
    outline = Outline(chunks)
    section = outline.section_of(chunks[-1])
    assert section.line == 1
    assert section.text == "\n\n".join(p.rstrip() for p in paragraphs)
