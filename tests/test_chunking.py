"""The chunker against Markdown fixtures with their expected sections."""

import json
import time
from pathlib import Path

import pytest

from qa.store.chunking import chunk_markdown
from qa.store.notes import decode_note

FIXTURES = Path(__file__).parent / "fixtures" / "chunking"


def as_records(sections):
    return [
        {
            "heading_path": list(s.heading_path),
            "start_line": s.start_line,
            "end_line": s.end_line,
            "part": s.part,
            "parts": s.parts,
            "answered": s.answered,
            "body": s.body,
        }
        for s in sections
    ]


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.md")))
def test_fixture(name: str) -> None:
    expected = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    text = (FIXTURES / f"{name}.md").read_text(encoding="utf-8")
    sections = chunk_markdown(text, f"{name}.md", expected["window_chars"])
    assert as_records(sections) == expected["sections"]


def test_bom_and_crlf_give_the_same_sections_and_lines() -> None:
    text = (FIXTURES / "nested.md").read_text(encoding="utf-8")
    raw = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8")
    decoded, problem = decode_note(raw, "nested.md")
    assert problem is None
    assert decoded == text
    assert as_records(chunk_markdown(decoded, "n.md")) == as_records(chunk_markdown(text, "n.md"))


def test_a_code_fence_longer_than_a_window_is_cut_between_lines_each_part_fenced() -> None:
    fence = "```\n" + "\n".join(f"x = {i}" for i in range(200)) + "\n```"
    text = f"# Code\n\nBefore.\n\n{fence}\n\nAfter.\n"
    sections = chunk_markdown(text, "c.md", window_chars=100)
    parts = [s.body for s in sections if "```" in s.body]
    assert len(parts) > 1 and all(len(s.body) <= 100 for s in sections)
    assert all(p.split("\n").count("```") == 2 for p in parts)  # opened and closed
    lines = [line for p in parts for line in p.split("\n") if line.startswith("x = ")]
    assert lines == [f"x = {i}" for i in range(200)]  # every line once, in order


def test_windows_keep_the_heading_path_and_cover_all_items() -> None:
    items = "\n".join(f"- point {i} " + "words " * 30 for i in range(20))
    sections = chunk_markdown(f"# A\n\n## B\n\n{items}\n", "w.md", window_chars=500)
    assert len(sections) > 1
    assert {s.heading_path for s in sections} == {("A", "B")}
    joined = "\n".join(s.body for s in sections)
    assert all(f"- point {i} " in joined for i in range(20))
    assert [s.part for s in sections] == list(range(1, len(sections) + 1))


def test_heading_markup_is_dropped_from_the_path() -> None:
    sections = chunk_markdown("# The **bold** `code` [link](x.md)\n\nText.\n", "h.md")
    assert sections[0].heading_path == ("The bold code link",)


def test_setext_headings_are_headings() -> None:
    sections = chunk_markdown("Title\n=====\n\nBody.\n\nSub\n---\n\nMore.\n", "s.md")
    assert [s.heading_path for s in sections] == [("Title",), ("Title", "Sub")]
    assert [s.start_line for s in sections] == [1, 6]


POINTERS = """# Notes

## Garbage collection

> [Python GC explained - a blog](http://example.com/gc) - 博客园

## Volatile

> https://github.com/example/interview#volatile

## PCA

-

## Random forest

TODO

## Reading list

- [Batch norm, explained](https://example.com/bn) - blog
- [Layer norm](https://example.com/ln)

## Contents of this note

- [Dropout](#dropout)
    - [Why it works](#why-it-works)

## Index

- [Dropout](#dropout)

## Dropout

Dropout drops units at random; see [the paper](https://example.com/dropout) for the proof.

## Softmax formula

![softmax](softmax.png)

## Short answer

是的

## Later

待補充
"""


def test_a_section_of_only_links_or_a_placeholder_is_no_answer() -> None:
    from qa.store.chunking import body_kind

    sections = {s.heading: s for s in chunk_markdown(POINTERS, "p.md")}
    kinds = {h: body_kind(s.body) for h, s in sections.items()}
    assert kinds == {
        "Garbage collection": "placeholder",
        "Volatile": "placeholder",
        "PCA": "placeholder",
        "Random forest": "placeholder",
        "Reading list": "links",
        "Contents of this note": "links",
        "Index": "links",  # a table of contents of one entry
        "Dropout": "text",
        "Softmax formula": "text",  # an image is the note's own answer
        "Short answer": "text",
        "Later": "placeholder",  # Traditional Chinese: 待補充
    }
    answered = {h for h, s in sections.items() if s.answered}
    assert answered == {"Dropout", "Softmax formula", "Short answer"}


def test_a_link_whose_text_holds_brackets_is_still_a_link() -> None:
    # A list of the note's questions, one of which quotes an interval: the list is a
    # table of contents, not the answer to every question it names.
    from qa.store.chunking import body_kind

    questions = (
        "* [Q11: What is skewness?](https://example.com/q#q11)\n"
        "* [Q12: You sample from a uniform distribution [0, d] n times. Estimate d?]"
        "(https://example.com/q#q12)\n"
        "* [Q18: z-test vs t-test?]()\n"
    )
    assert body_kind(questions) == "links"
    assert (
        body_kind("- [[49] Stacked attention (SAN)](#49-san)\n- [[48] Ask, Attend](#48)") == "links"
    )
    # An address with parentheses is one link, and a sentence around it is text.
    wiki = "- [noise](https://en.wikipedia.org/wiki/Noise_(signal_processing))\n- [bias](https://b.org)"
    assert body_kind(wiki) == "links"
    assert body_kind("Models fit the [noise](https://w.org/Noise_(x)) in the data.") == "text"


def test_a_long_section_is_judged_whole() -> None:
    links = "\n".join(f"- [ref {i}](https://example.com/{i})" for i in range(30))
    # Text and then a long reference list: every window answers, the list's too.
    text = "# A\n\n" + "Words about it. " * 80 + "\n\n" + links
    sections = chunk_markdown(text, "w.md", window_chars=400)
    assert len(sections) > 1 and all(s.answered for s in sections)
    # A reading list too long for one window answers nothing in any of its windows.
    only = chunk_markdown("# Reading\n\n" + links, "r.md", window_chars=300)
    assert len(only) > 1 and not any(s.answered for s in only)


def test_a_long_line_of_brackets_is_read_in_linear_time() -> None:
    from qa.store.chunking import body_kind

    assert body_kind("[" * 200_000) == "text"
    assert body_kind(("[x](" * 400 + "\n") * 500) == "text"
    started = time.perf_counter()
    body_kind(("[" * 1999 + "\n") * 1000)  # lines just under MAX_POINTER_LINE
    assert time.perf_counter() - started < 2.0  # quadratic: ~9 s


def test_a_table_of_contents_too_long_for_a_window_asks_nothing() -> None:
    from qa.store.chunks import chunks_from_sections

    # Each entry links to a question of the note by a long URL: one link per window.
    url = "https://github.com/someone/notes/blob/main/probability.md#" + "q-" * 150
    entries = "\n".join(f"* [Q{i}: a question about dice]({url}{i})" for i in range(6))
    chunks = chunks_from_sections(chunk_markdown("## Questions\n\n" + entries, "p.md", 400))
    assert len(chunks) > 1
    assert not any(c.answered or c.asks for c in chunks)  # neither an answer nor a gap
    # A short one-link section is still a heading the notes ask.
    (one,) = chunks_from_sections(chunk_markdown(f"## Dice\n\n[read this]({url})", "d.md"))
    assert one.asks and not one.answered


def test_a_pointer_above_sub_headings_asks_nothing_a_todo_there_still_asks() -> None:
    from qa.store.chunking import chunk_note
    from qa.store.chunks import chunks_from_sections

    note = (
        "# Linked lists\n\n## Sorting a linked list\n\n> [all of them](https://example.com/sort)\n\n"
        "### Quick sort\n\nPartition around the head node, then sort each side.\n\n"
        "### Merge sort\n\n"
        "## Heaps\n\nTODO\n\n### Building a heap\n\nSift down from the last parent: O(n).\n\n"
        "## Attention\n\nTODO\n\n### Contents\n\n- [Self](#self)\n- [Cross](#cross)\n\n"
        "## Reversing\n\nTODO\n"
    )
    sections, _ = chunk_note(note, "lists.md")
    chunks = {c.heading: c for c in chunks_from_sections(sections)}
    # The sub-headings carry the text: the link above them is no question waiting, and
    # it is still there to read.
    assert chunks["Sorting a linked list"].text.startswith("> [all of them]")
    asks = {h for h, c in chunks.items() if c.asks}
    # A TODO says an answer is to be written, sub-headings or not; a table of contents
    # below a heading is no sub-heading of its own.
    assert asks == {"Merge sort", "Heaps", "Attention", "Reversing"}
    assert not any(c.answered for h, c in chunks.items() if h in asks)


def test_a_long_placeholder_asks_once() -> None:
    from qa.store.chunks import chunks_from_sections

    url = "https://distill.pub/2017/momentum/#dynamicsxxxxxxxxxxxxxx"  # one line, one window
    text = f"## Momentum\n\nTODO\n\n> see [momentum explained in depth]({url})\n"
    chunks = chunks_from_sections(chunk_markdown(text, "m.md", window_chars=100))
    assert len(chunks) > 1 and [c.part for c in chunks if c.asks] == [1]
