"""Rebuilding each note's tree of sections from an index's chunks."""

from pathlib import Path

import pytest

from qa.chunking import chunk_markdown
from qa.index import chunks_from_sections
from qa.navigate import Outline

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
def outline(tmp_path: Path) -> Outline:
    (tmp_path / "dl.md").write_text(NOTE, encoding="utf-8")
    (tmp_path / "copy.md").write_text("# Copy\n\n### Dropout\n\nDropout zeroes units.\n")
    sections = chunk_markdown(NOTE, "dl.md") + chunk_markdown(
        (tmp_path / "copy.md").read_text(), "copy.md"
    )
    return Outline(chunks_from_sections(sections), corpus=tmp_path)


def test_tree_of_a_note(outline: Outline) -> None:
    root = outline.root("dl.md")
    assert root is not None and root.is_root and root.title == "dl.md"
    assert [c.title for c in root.children] == ["Deep learning", "Appendix"]
    deep = root.children[0]
    assert [c.title for c in deep.children] == ["Regularisation", "Normalisation"]
    assert [c.title for c in deep.children[0].children] == ["Dropout", "Weight decay"]
    assert [c.title for c in deep.children[1].children] == ["Batch norm", "What is layer norm?"]
    assert outline.files == ["copy.md", "dl.md"]


def test_headings_without_text_get_their_lines_from_the_note(outline: Outline) -> None:
    deep = outline.root("dl.md").children[0]  # type: ignore[union-attr]
    regularisation = deep.children[0]
    assert (deep.line, deep.line_known, deep.text) == (1, True, "")
    assert (regularisation.line, regularisation.line_known) == (3, True)
    assert regularisation.end_line == 11


def test_without_the_notes_lines_are_approximate(tmp_path: Path) -> None:
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
