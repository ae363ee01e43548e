"""A passage cut into *units*: what the answering sentences are chosen from.

English sentences, Chinese sentences (ending at 。！？；), list items, table rows, a whole
fenced code block, a whole ``$$`` math block; inline math and code spans are never cut.
Each unit keeps its character offsets into the passage text, so ``text[start:end]`` is
the unit. The build embeds the units (qa.store.unit_vectors); the answering-sentence
scorer (qa.retrieve.answer_span) ranks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_UNIT_CHARS = 300  # what of a unit the dense channels read

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d{1,3}[.)、]|[（(]?\d{1,3}[）)])\s+(?:\[[ xX]\]\s+)?")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s|$)")
_QUOTE = re.compile(r"^\s{0,3}>\s?")
_HTML_COMMENT = re.compile(r"^\s*<!--.*-->\s*$")
# What a sentence end never falls inside: code spans, inline math, links.
_PROTECTED = re.compile(
    r"(`+)[^`]*?\1|\$\$.+?\$\$|(?<![\\$\w])\$(?=[^\s$])[^$\n]*?[^\s\\$]\$(?![\w$])"
    r"|!?\[[^\]\n]*\]\([^)\n]*\)|https?://\S+"
)
# A sentence ends after . ! ? (and closing quotes or brackets) followed by a space, or
# after 。！？；(and ！？ written half-width right after Chinese).
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]*_]*(?=\s)|[。！？；][\"'”’）)\]*_]*")
_ABBREVIATIONS = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|vs|cf|al|approx|fig|eq|no|mr|mrs|dr|st)|\b[A-Za-z])\.$", re.I
)


@dataclass(frozen=True)
class Unit:
    """One sentence-like piece of a passage: ``text == passage[start:end]``."""

    start: int
    end: int
    text: str
    kind: str  # "sentence", "item", "row", "code", "math", "heading"

    @property
    def markable(self) -> bool:
        """Whether this unit can be an answer (a heading only says what follows)."""
        return self.kind != "heading"


def split_units(text: str) -> list[Unit]:
    """``text`` cut into units, in order, each with its offsets into ``text``."""
    units: list[Unit] = []
    lines = _lines(text)
    i = 0
    paragraph: list[tuple[int, int]] = []  # (start, end) of the lines of a paragraph
    item: tuple[int, int] | None = None  # a list item being read (its content span)

    def flush() -> None:
        nonlocal paragraph, item
        if item is not None:
            units.extend(_sentences(text, item[0], item[1], "item"))
            item = None
        if paragraph:
            units.extend(_sentences(text, paragraph[0][0], paragraph[-1][1], "sentence"))
            paragraph = []

    while i < len(lines):
        start, end = lines[i]
        line = text[start:end]
        stripped = line.strip()
        fence = _FENCE.match(line)
        if fence:
            flush()
            mark = fence.group(1)
            j = i + 1
            while j < len(lines):
                s = text[lines[j][0] : lines[j][1]].strip()
                if s.startswith(mark[0] * len(mark)) and not s.strip(mark[0]):
                    break
                j += 1
            last = min(j, len(lines) - 1)
            units.append(_unit(text, start, lines[last][1], "code"))
            i = last + 1
            continue
        if stripped.startswith("$$") and not (len(stripped) > 4 and stripped.endswith("$$")):
            # A display-math block over several lines: one unit up to the closing $$.
            j = i + 1
            while j < len(lines) and "$$" not in text[lines[j][0] : lines[j][1]]:
                j += 1
            if j < len(lines):
                flush()
                units.append(_unit(text, start, lines[j][1], "math"))
                i = j + 1
                continue
        if not stripped or _HTML_COMMENT.match(line):
            flush()
        elif _HEADING.match(line):
            flush()
            units.append(_unit(text, start, end, "heading"))
        elif stripped.startswith("$$") and stripped.endswith("$$"):
            flush()
            units.append(_unit(text, start, end, "math"))
        elif stripped.startswith("|") or (stripped.count("|") >= 2 and _in_table(text, lines, i)):
            flush()
            if not _TABLE_RULE.match(line):
                units.append(_unit(text, start, end, "row"))
        elif m := _LIST_ITEM.match(line):
            flush()
            item = (start + m.end(), end)
        elif item is not None and (line[:1].isspace() or not paragraph):
            item = (item[0], end)  # a continuation line of the list item
        else:
            quote = _QUOTE.match(line)
            paragraph.append((start + (quote.end() if quote else 0), end))
        i += 1
    flush()
    return [u for u in units if u.text]


def _lines(text: str) -> list[tuple[int, int]]:
    out = []
    pos = 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def _in_table(text: str, lines: list[tuple[int, int]], i: int) -> bool:
    """A line with pipes is a table row when a rule line (---|---) is next to it."""
    for j in (i - 1, i + 1, i - 2):
        if 0 <= j < len(lines) and _TABLE_RULE.match(text[lines[j][0] : lines[j][1]]):
            return True
    return False


def _unit(text: str, start: int, end: int, kind: str) -> Unit:
    """A unit over ``text[start:end]`` without the whitespace around it."""
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    trail = len(piece) - len(piece.rstrip())
    start, end = start + lead, end - trail
    return Unit(start, end, text[start:end], kind)


def _sentences(text: str, start: int, end: int, kind: str) -> list[Unit]:
    """``text[start:end]`` cut after each sentence end outside protected spans."""
    block = text[start:end]
    protected = [(m.start(), m.end()) for m in _PROTECTED.finditer(block)]
    cuts = []
    for m in _SENTENCE_END.finditer(block):
        at = m.end()
        if any(a < at <= b for a, b in protected):
            continue
        if block[m.start()] == "." and _ABBREVIATIONS.search(block[max(0, m.start() - 8) : at]):
            continue
        cuts.append(at)
    out = []
    pos = 0
    for cut in [*cuts, len(block)]:
        if block[pos:cut].strip():
            out.append(_unit(text, start + pos, start + cut, kind))
        pos = cut
    return out
