"""Cutting a Markdown note into sections by heading.

A section is a heading and the text under it, up to the next heading of any level.
Long sections are cut into windows at paragraph or list-item boundaries; a code fence
is never cut. Line numbers are 1-based and refer to the file as the user sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from qa.notes import normalise_newlines

WINDOW_CHARS = 1200

# Headings that only navigate the note; their sections are never answers.
NAVIGATION_HEADINGS = {"table of contents", "contents", "toc", "目录"}

_TOC_MARKER = re.compile(r"^\s*\[\[?_?toc_?\]?\]\s*$", re.IGNORECASE)
_HIDDEN_HTML = re.compile(
    r"<!--.*?-->|<script\b.*?</script\s*>|<style\b.*?</style\s*>", re.IGNORECASE | re.DOTALL
)
_BLANK_RUNS = re.compile(r"\n{3,}")

_parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])


@dataclass(frozen=True)
class Section:
    """One section of a note, or one window of a long section."""

    file: str
    heading_path: tuple[str, ...]
    start_line: int  # the heading's line (or the window's first line), 1-based
    end_line: int  # last line of the body, inclusive
    body: str
    level: int = 0  # heading level 1-6; 0 for text before the first heading
    part: int = 1  # window number within the section
    parts: int = 1
    section_line: int = 0  # the line of the section's heading (its first line if none)

    @property
    def heading(self) -> str:
        return self.heading_path[-1]

    @property
    def answered(self) -> bool:
        """A heading with no text under it is a question the notes do not answer yet."""
        return bool(self.body)


@dataclass
class _Block:
    start: int  # 0-based, inclusive
    end: int  # 0-based, exclusive
    kind: str


@dataclass
class _Heading:
    level: int
    text: str
    start: int
    end: int
    blocks: list[_Block]


def chunk_markdown(text: str, file: str, window_chars: int = WINDOW_CHARS) -> list[Section]:
    """Cut one note into sections (and windows of long sections).

    Front matter is not a heading; its ``title`` names the text before the first heading.
    Sections that only contain sub-headings are left out (their children carry the text);
    a heading with nothing under it and no sub-headings is kept with an empty body.
    """
    lines = normalise_newlines(text).split("\n")
    title = _strip_front_matter(lines)
    for i, line in enumerate(lines):
        if _TOC_MARKER.match(line):
            lines[i] = ""
    tokens = _parser.parse("\n".join(lines))
    preamble, headings = _outline(tokens)

    sections: list[Section] = []
    if preamble.blocks:
        name = title or _title_from_path(file)
        sections += _windows(lines, file, (name,), 0, preamble, window_chars)

    stack: list[tuple[int, str]] = []
    for i, heading in enumerate(headings):
        while stack and stack[-1][0] >= heading.level:
            stack.pop()
        navigation = heading.text.strip().lower() in NAVIGATION_HEADINGS
        stack.append((heading.level, "" if navigation else heading.text))
        if navigation:
            continue
        path = tuple(text for _, text in stack if text)
        windows = _windows(lines, file, path, heading.level, heading, window_chars)
        if windows:
            sections += windows
            continue
        has_children = i + 1 < len(headings) and headings[i + 1].level > heading.level
        if not has_children:
            first = heading.start + 1
            sections.append(
                Section(file, path, first, heading.end, "", heading.level, section_line=first)
            )
    return sections


def _strip_front_matter(lines: list[str]) -> str | None:
    """Blank out YAML front matter in place (keeping line numbers); return its title."""
    if not lines or lines[0].strip() != "---":
        return None
    for end in range(1, min(len(lines), 500)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        return None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError:
        meta = None
    for i in range(end + 1):
        lines[i] = ""
    if isinstance(meta, dict) and isinstance(meta.get("title"), str | int | float):
        title = str(meta["title"]).strip()
        return title or None
    return None


def _outline(tokens: list[Token]) -> tuple[_Heading, list[_Heading]]:
    """Top-level blocks grouped under the heading they follow.

    Lists are split into their items so that long lists can be windowed between items.
    """
    preamble = _Heading(0, "", 0, 0, [])
    headings: list[_Heading] = []
    current = preamble
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.level != 0 or tok.map is None:
            i += 1
            continue
        start, end = tok.map
        if tok.type == "heading_open":
            text = _plain_text(tokens[i + 1]) or "(untitled)"
            current = _Heading(int(tok.tag[1]), text, start, end, [])
            headings.append(current)
        elif tok.type in ("bullet_list_open", "ordered_list_open"):
            close = tok.type.replace("_open", "_close")
            j = i + 1
            while j < len(tokens) and not (tokens[j].type == close and tokens[j].level == 0):
                item = tokens[j]
                if item.type == "list_item_open" and item.level == 1 and item.map:
                    current.blocks.append(_Block(item.map[0], item.map[1], "item"))
                j += 1
            i = j
        else:
            kind = "code" if tok.type in ("fence", "code_block") else tok.type
            current.blocks.append(_Block(start, end, kind))
        i += 1
    return preamble, headings


def _plain_text(inline: Token) -> str:
    """A heading's text without Markdown markup."""
    parts = [
        child.content
        for child in inline.children or []
        if child.type in ("text", "code_inline", "html_inline")
    ]
    text = "".join(parts) if parts else inline.content
    return " ".join(_HIDDEN_HTML.sub("", text).split())


def _block_text(lines: list[str], block: _Block) -> str:
    end = block.end
    while end > block.start and not lines[end - 1].strip():
        end -= 1
    text = "\n".join(lines[block.start : end])
    if block.kind != "code":
        text = _HIDDEN_HTML.sub("", text)
        text = "\n".join(line.rstrip() for line in text.split("\n"))
        text = _BLANK_RUNS.sub("\n\n", text).strip("\n")
        if not text.strip():
            return ""
    return text


def _windows(
    lines: list[str],
    file: str,
    path: tuple[str, ...],
    level: int,
    heading: _Heading,
    window_chars: int,
) -> list[Section]:
    """Pack a heading's blocks into windows of about ``window_chars`` characters.

    The number of windows is fixed first, then blocks are spread evenly over them, so
    that no window is a short leftover without context.
    """
    pieces = [(b, t) for b in heading.blocks if (t := _block_text(lines, b))]
    if not pieces:
        return []
    total = sum(len(t) + 2 for _, t in pieces)
    wanted = -(-total // window_chars)
    target = total / wanted
    groups: list[list[tuple[_Block, str]]] = [[]]
    size = 0
    for block, text in pieces:
        if groups[-1] and len(groups) < wanted and size + len(text) / 2 > target:
            groups.append([])
            size = 0
        groups[-1].append((block, text))
        size += len(text) + 2
    sections = []
    section_line = heading.start + 1 if heading.level else groups[0][0][0].start + 1
    for n, group in enumerate(groups, start=1):
        body = ""
        for k, (block, text) in enumerate(group):
            if k:
                adjacent = group[k - 1][0].end == block.start
                body += "\n" if adjacent and block.kind == "item" else "\n\n"
            body += text
        first_line = heading.start + 1 if n == 1 and heading.level else group[0][0].start + 1
        last_line = _last_line(lines, group[-1][0])
        sections.append(
            Section(file, path, first_line, last_line, body, level, n, len(groups), section_line)
        )
    return sections


def _last_line(lines: list[str], block: _Block) -> int:
    end = block.end
    while end > block.start + 1 and not lines[end - 1].strip():
        end -= 1
    return end


def _title_from_path(file: str) -> str:
    stem = file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.replace("-", " ").replace("_", " ").strip() or file
