"""Cutting a Markdown note into sections by heading.

A section is a heading and the text under it, up to the next heading of any level.
Long sections are cut into windows at paragraph or list-item boundaries; a block
longer than a window (a one-line paragraph of a megabyte, say) is cut between lines,
then between sentences, then between words, and a long code fence between its lines,
each part fenced again. Line numbers are 1-based and refer to the file as the user
sees it.

Every step is linear in the size of the note: notes may come from anyone, and one must
not be able to stall a build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from qa.store.notes import normalise_newlines

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

WINDOW_CHARS = 1200
# Changes whenever the same note can be cut differently; an index records it, and one cut
# by another version is brought up to date (unchanged sections keep their vectors).
# v2: long blocks cut at lines, sentences, then words; v3: holders; v4: a section of only
# links or a placeholder is not an answer (body_kind); v5: a long section is judged whole;
# v7: whether a heading asks is judged once per section and stored (Section.asks); v8: a
# link's text may hold brackets and its address parentheses
CHUNKER = "sections-v8"

# Headings that only navigate the note; their sections are never answers.
NAVIGATION_HEADINGS = {"table of contents", "contents", "toc", "目录"}

_TOC_MARKER = re.compile(r"^\s*\[\[?_?toc_?\]?\]\s*$", re.IGNORECASE)
# Hidden HTML: comments, scripts and styles. Removed by _strip_hidden_html, which looks
# for each opener's closer once: one regex over the three (``<!--.*?-->`` and so on)
# rescans to the end of the text for every unclosed opener, quadratic time.
_HIDDEN_OPENER = re.compile(r"<!--|<(script|style)\b", re.IGNORECASE)
_HIDDEN_CLOSER = {
    "comment": re.compile(re.escape("-->")),
    "script": re.compile(r"</script\s*>", re.IGNORECASE),
    "style": re.compile(r"</style\s*>", re.IGNORECASE),
}
_BLANK_RUNS = re.compile(r"\n{3,}")
# Where a long line may be cut: after a sentence ends (English or Chinese punctuation).
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|(?<=[。！？；：…])")
MAX_HEADING_CHARS = 2000  # a heading's text is parsed as inline Markdown up to this long
_INLINE_MARKUP = re.compile(r"[\\`*_\[\]<>!&~]")  # what inline Markdown starts with
# What a body that says nothing itself is made of (body_kind): links and URLs, quote and
# list markers, check boxes, fence lines, a placeholder word, and punctuation.
# A link's text may hold brackets ("[[49] SAN](#49-san)", "[Q12: uniform on [0, d]](url)") and
# its address parentheses ("wiki/Noise_(signal_processing)"), one level deep. The two
# alternatives inside each repetition start with different characters, so a match never
# backtracks between them and a line of "[[[[…" is still read in linear time.
_LINK_OR_URL = re.compile(
    r"\[(?:[^\[\]\n]|\[[^\[\]\n]*\])*\]\((?:[^()\n]|\([^()\n]*\))*\)|<https?://[^>\s]*>|https?://\S+"
)
_LINE_MARKERS = re.compile(r"^\s*(?:>\s*)*(?:(?:[-*+]|\d+[.)])(?:\s+(?:\[[ xX]\]\s*)?|$))?")
_FENCE_LINE = re.compile(r"^\s*(?:```|~~~)[\w+-]*\s*$")
# Words that say an answer is still to be written.
_TO_WRITE = r"todo|tbd|wip|待补充|待補充|待续|待續|待完善|未完成"
_PLACEHOLDER = re.compile(rf"(?:{_TO_WRITE}|略)?", re.IGNORECASE)
_IMAGE = re.compile(r"!\[|<img\b|latex=", re.IGNORECASE)
_POINTER_PUNCTUATION = " \t-–—:|*_`>.,，。；;：()（）[]…"
MAX_POINTER_LINE = 2000
POINTER_REST = 8  # a link line may carry this many other characters ("- 博客园", "详见")


@cache
def _parser(inline: bool = False) -> MarkdownIt:
    """The Markdown parser, made on first use (a question never chunks a note, and making
    it is most of importing this module). Blocks only by default: the chunker reads the
    structure and the source lines, never the inline markup of the whole text (inline
    parsing of ``[`` × 10⁶ takes seconds); a heading's own text is parsed inline on its
    own (``inline=True``, _plain_text)."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    return parser if inline else parser.disable("inline")


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
    says: bool = True  # a long section's windows: whether the whole section says anything
    # A heading the notes ask but do not answer yet (nothing, a TODO or a pointer under it;
    # not a list of links): set on a section's first window only.
    asks: bool = False

    @property
    def heading(self) -> str:
        return self.heading_path[-1]

    @property
    def answered(self) -> bool:
        """A heading with no text under it is a question the notes do not answer yet; so
        is one with only a placeholder or links under it (``body_kind``). A long section
        is judged whole: each of its windows answers unless the section is only links."""
        if not self.body:
            return False
        return self.says if self.parts > 1 else body_kind(self.body) == "text"


def placeholder_line(body: str, limit: int = 160) -> str:
    """The first line of a body that is not a fence line, at most ``limit`` characters."""
    for line in body.split("\n"):
        if line.strip() and not _FENCE_LINE.match(line):
            return line.strip()[:limit]
    return ""


def body_kind(body: str) -> str:
    """What a section's body is: ``"text"`` (it says something itself), ``"links"`` (two
    or more lines that are only links, or links to headings of the same note: a table of
    contents or a reading list, neither an answer nor a question waiting for one), or
    ``"placeholder"`` (nothing, a TODO, an empty list item or fence, or one link
    elsewhere: the answer is still to be written, or elsewhere). An image or a formula
    is text: it is the note's own answer.

    A line counts as a link line when what is left without its links, markers and
    punctuation is at most POINTER_REST characters ("- [BN 详解](url) - 博客园").
    """
    if _IMAGE.search(body):
        return "text"
    links = anchors = 0
    for line in body.split("\n"):
        if not line.strip() or _FENCE_LINE.match(line):
            continue
        if len(line) > MAX_POINTER_LINE:  # no link line is this long; keeps the scan linear
            return "text"
        rest = _LINE_MARKERS.sub("", line, count=1)
        found = _LINK_OR_URL.findall(rest)
        rest = _LINK_OR_URL.sub("", rest).strip(_POINTER_PUNCTUATION)
        if found and len(rest) <= POINTER_REST:
            links += 1
            anchors += all(link.endswith(")") and "](#" in link for link in found)
        elif not _PLACEHOLDER.fullmatch(rest):
            return "text"
    # A link to a heading of the same note is a table of contents, however short.
    return "links" if links >= 2 or (links and anchors == links) else "placeholder"


_MARK = re.compile(_TO_WRITE, re.IGNORECASE)  # anywhere in a line, so not 略 (策略, 省略)


def is_pointer(body: str) -> bool:
    """Whether a body that says nothing itself points elsewhere: links, and no TODO mark or
    empty fence saying that an answer is still to be written here."""
    return (
        bool(_LINK_OR_URL.search(body))
        and not _MARK.search(_LINK_OR_URL.sub(" ", body))
        and not any(_FENCE_LINE.match(line) for line in body.split("\n"))
    )


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


@dataclass(frozen=True)
class Holder:
    """A heading that only holds sub-headings: no section of its own, a place in the outline."""

    file: str
    heading_path: tuple[str, ...]
    line: int  # 1-based

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "heading_path": list(self.heading_path), "line": self.line}


def chunk_markdown(text: str, file: str, window_chars: int = WINDOW_CHARS) -> list[Section]:
    """Cut one note into sections (and windows of long sections); see ``chunk_note``."""
    return chunk_note(text, file, window_chars)[0]


def chunk_note(
    text: str, file: str, window_chars: int = WINDOW_CHARS
) -> tuple[list[Section], list[Holder]]:
    """Cut one note into sections (and windows of long sections), and list its holders.

    Front matter is not a heading; its ``title`` names the text before the first heading.
    Sections that only contain sub-headings are left out (their children carry the text)
    and returned as holders, so an outline knows their lines without reading the note;
    a heading with nothing under it and no sub-headings is kept with an empty body.
    """
    lines = normalise_newlines(text).split("\n")
    title = _strip_front_matter(lines)
    for i, line in enumerate(lines):
        if _TOC_MARKER.match(line):
            lines[i] = ""
    tokens = _parser().parse("\n".join(lines))
    preamble, headings = _outline(tokens)

    sections: list[Section] = []
    holders: list[Holder] = []
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
        has_children = _has_children(headings, i)
        if windows:
            # Only a pointer above sub-headings ("链表排序: see [this]" over 链表快排 and
            # 链表归并): the sub-headings carry the text, so the heading asks nothing. A
            # TODO or an empty fence there still says an answer is to be written.
            if has_children and windows[0].asks and is_pointer(windows[0].body):
                windows[0] = replace(windows[0], asks=False)
            sections += windows
            continue
        first = heading.start + 1
        if has_children:
            holders.append(Holder(file, path, first))
        else:
            sections.append(
                Section(
                    file, path, first, heading.end, "", heading.level, section_line=first, asks=True
                )
            )
    return sections, holders


def _has_children(headings: list[_Heading], i: int) -> bool:
    """Whether heading ``i`` has a sub-heading other than a table of contents."""
    for below in headings[i + 1 :]:
        if below.level <= headings[i].level:
            return False
        if below.text.strip().lower() not in NAVIGATION_HEADINGS:
            return True
    return False


def _strip_front_matter(lines: list[str]) -> str | None:
    """Blank out YAML front matter in place (keeping line numbers); return its title."""
    if not lines or lines[0].strip() != "---":
        return None
    for end in range(1, min(len(lines), 500)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        return None
    import yaml

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
    source = inline.content[:MAX_HEADING_CHARS]
    if not _INLINE_MARKUP.search(source):  # nothing for the inline parser to do
        return " ".join(source.split())
    tokens = _parser(inline=True).parseInline(source)
    children = tokens[0].children or [] if tokens else []
    parts = [
        child.content for child in children if child.type in ("text", "code_inline", "html_inline")
    ]
    text = "".join(parts) if parts else source
    return " ".join(_strip_hidden_html(text).split())


def _strip_hidden_html(text: str) -> str:
    """``text`` without HTML comments, scripts and styles, in linear time.

    Same result as removing ``<!--.*?-->``, ``<script…</script>`` and ``<style…</style>``
    (DOTALL, first match leftmost) with one regex: an opener without a closer stays as
    text. Once an opener of a kind finds no closer, no later one of that kind can.
    """
    if "<" not in text:
        return text
    kept: list[str] = []
    done = 0  # text before this is decided
    unclosed: set[str] = set()
    pos = 0
    while (opener := _HIDDEN_OPENER.search(text, pos)) is not None:
        kind = (opener.group(1) or "comment").lower()
        closer = None if kind in unclosed else _HIDDEN_CLOSER[kind].search(text, opener.end())
        if closer is None:
            unclosed.add(kind)
            pos = opener.start() + 1
            continue
        kept.append(text[done : opener.start()])
        done = pos = closer.end()
    kept.append(text[done:])
    return "".join(kept)


def _block_text(lines: list[str], block: _Block) -> str:
    end = block.end
    while end > block.start and not lines[end - 1].strip():
        end -= 1
    text = "\n".join(lines[block.start : end])
    if block.kind != "code":
        text = _strip_hidden_html(text)
        text = "\n".join(line.rstrip() for line in text.split("\n"))
        text = _BLANK_RUNS.sub("\n\n", text).strip("\n")
        if not text.strip():
            return ""
    return text


def _cut_long(block: _Block, text: str, limit: int) -> list[tuple[_Block, str]]:
    """A block longer than ``limit`` as parts of at most ``limit`` characters, each with
    its own lines: cut between lines, a longer line between sentences, a longer sentence
    between words (or anywhere, for text without spaces). A code block is cut between
    lines only, and each part is fenced again so that it still shows as code."""
    if len(text) <= limit:
        return [(block, text)]
    fence = _fence_of(text) if block.kind == "code" else None
    if fence is not None and len(fence[0]) + len(fence[1]) + 2 <= limit // 2:
        opening, closing = fence
        inner = text.split("\n")[1:-1] if text.rstrip().endswith(closing) else text.split("\n")[1:]
        room = limit - len(opening) - len(closing) - 2
        lines = [(1 + i, line) for i, line in enumerate(inner)]
        parts = _pack(_pieces(lines, room), room, indented=True)
        return [
            (
                _Block(block.start + first, block.start + last + 1, block.kind),
                f"{opening}\n{body}\n{closing}",
            )
            for first, last, body in parts
        ]
    numbered = list(enumerate(text.split("\n")))
    return [
        (
            _Block(
                min(block.start + first, block.end - 1),
                min(block.start + last + 1, block.end),
                block.kind,
            ),
            body,
        )
        for first, last, body in _pack(_pieces(numbered, limit), limit)
    ]


def _fence_of(text: str) -> tuple[str, str] | None:
    """A fenced code block's opening line and the closing fence it needs."""
    first = text.split("\n", 1)[0]
    marker = re.match(r"\s*(`{3,}|~{3,})", first)
    if marker is None:
        return None
    return first, marker.group(1)


def _pieces(lines: list[tuple[int, str]], limit: int) -> list[tuple[int, str, str]]:
    """Lines, each cut into pieces of at most ``limit`` characters: (line, piece, the
    separator that followed it in the text)."""
    pieces: list[tuple[int, str, str]] = []
    for number, line in lines:
        if len(line) <= limit:
            pieces.append((number, line, "\n"))
            continue
        for sentence, gap in _split_keeping(_SENTENCE_END, line):
            while len(sentence) > limit:
                cut = sentence.rfind(" ", limit // 2, limit + 1)
                cut = cut if cut > 0 else limit
                pieces.append(
                    (number, sentence[:cut], " " if sentence[cut : cut + 1] == " " else "")
                )
                sentence = sentence[cut:].lstrip(" ")
            pieces.append((number, sentence, gap))
        pieces[-1] = (number, pieces[-1][1], "\n")
    return pieces


def _split_keeping(pattern: re.Pattern[str], text: str) -> list[tuple[str, str]]:
    """``text`` cut at ``pattern``: each piece with the separator that followed it."""
    out = []
    start = 0
    for match in pattern.finditer(text):
        if match.start() > start:
            out.append((text[start : match.start()], match.group(0) or ""))
            start = match.end()
    out.append((text[start:], ""))
    return out


def _pack(
    pieces: list[tuple[int, str, str]], limit: int, indented: bool = False
) -> list[tuple[int, int, str]]:
    """Pieces packed greedily into parts of at most ``limit`` characters: (first line,
    last line, text), the text of each part as it was, separators kept inside a part.
    A part starts without leading spaces, unless ``indented`` (code keeps its indent)."""
    parts: list[tuple[int, int, str]] = []
    body, first, last = "", -1, -1
    for number, piece, gap in pieces:
        if body and len(body) + len(piece) > limit:
            parts.append((first, last, body.rstrip()))
            body = ""
        if not body:
            first = number
            piece = piece if indented else piece.lstrip()
        if not piece and not body:
            continue
        body += piece + gap
        last = number
    if body.strip():
        parts.append((first, last, body.rstrip()))
    return parts


def _windows(
    lines: list[str],
    file: str,
    path: tuple[str, ...],
    level: int,
    heading: _Heading,
    window_chars: int,
) -> list[Section]:
    """Pack a heading's blocks into windows of at most ``window_chars`` characters.

    The number of windows is fixed first, then blocks are spread evenly over them, so
    that no window is a short leftover without context; a window that would grow past
    ``window_chars`` is closed early.
    """
    pieces = [
        part
        for b in heading.blocks
        if (t := _block_text(lines, b))
        for part in _cut_long(b, t, window_chars)
    ]
    if not pieces:
        return []
    total = sum(len(t) + 2 for _, t in pieces)
    wanted = -(-total // window_chars)
    target = total / wanted
    groups: list[list[tuple[_Block, str]]] = [[]]
    size = 0
    for block, text in pieces:
        # A window never grows past window_chars (every piece fits in one, see _cut_long).
        full = size + len(text) > window_chars
        if groups[-1] and (full or (len(groups) < wanted and size + len(text) / 2 > target)):
            groups.append([])
            size = 0
        groups[-1].append((block, text))
        size += len(text) + 2
    sections = []
    section_line = heading.start + 1 if heading.level else groups[0][0][0].start + 1
    whole = body_kind("\n".join(t for _, t in pieces))
    says = len(groups) == 1 or whole == "text"
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
            Section(
                file,
                path,
                first_line,
                last_line,
                body,
                level,
                n,
                len(groups),
                section_line,
                says,
                asks=n == 1 and whole == "placeholder",
            )
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
