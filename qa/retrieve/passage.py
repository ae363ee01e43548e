"""Preparing a passage for display: math kept as literal text, question words to mark.

No UI code here: the TUI renders what these functions return.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from qa.lang.glossary import Expansion
from qa.lang.text import CHINESE_STOPWORDS, HAN_RUN, PLAIN, has_chinese

if TYPE_CHECKING:
    from qa.retrieve.query import Query

_FENCE = re.compile(r"^(\s{0,3})(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:.+?)(?<!`)\1(?!`)")
_DISPLAY_INLINE = re.compile(r"\$\$(?=\S)(.+?)(?<=\S)\$\$")
# Pandoc's rule: no space just inside the dollars, no digit right after the closing one,
# so "costs $5 and $10" stays prose.
_INLINE_MATH = re.compile(r"(?<![\\$\w])\$(?=[^\s$])([^$\n]*?[^\s\\$])\$(?![\w$])")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#]*")
_HAN_RUN = HAN_RUN


def protect_math(markdown: str) -> str:
    """Show TeX math as it was written.

    Markdown reads ``\\{``, ``*`` and ``_`` inside math as escapes and emphasis; so
    ``$$…$$`` blocks become ``latex`` code fences and ``$…$`` becomes inline code.
    Code fences and inline code are left exactly as they are.
    """
    lines = markdown.split("\n")
    out: list[str] = []
    fence: str | None = None
    math: list[str] | None = None
    indent = ""
    for line in lines:
        if fence is not None:
            out.append(line)
            stripped = line.strip()
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence = None
            continue
        if math is not None:
            stripped = line.strip()
            if stripped.endswith("$$"):
                body = stripped[:-2].rstrip()
                if body:
                    math.append(indent + body)
                out += [*_fenced(indent, math)]
                math = None
            else:
                math.append(line)
            continue
        opening = _FENCE.match(line)
        if opening:
            fence = opening.group(2)
            out.append(line)
            continue
        stripped = line.strip()
        if stripped.startswith("$$"):
            indent = line[: len(line) - len(line.lstrip())]
            rest = stripped[2:]
            if rest.rstrip().endswith("$$") and len(rest.rstrip()) >= 2:
                body = rest.rstrip()[:-2].strip()
                out += [*_fenced(indent, [indent + body] if body else [])]
            else:
                math = [indent + rest.strip()] if rest.strip() else []
            continue
        out.append(_inline_math(line))
    if math is not None:  # an unclosed $$: leave the text as it was
        out.append(indent + "$$")
        out += math
    return "\n".join(out)


def _fenced(indent: str, body: list[str]) -> list[str]:
    ticks = "`" * max(3, 1 + max((len(r) for b in body for r in re.findall("`+", b)), default=0))
    return [f"{indent}{ticks}latex", *body, f"{indent}{ticks}"]


def _inline_math(line: str) -> str:
    """``$…$`` and ``$$…$$`` inside a line become inline code, outside existing code spans."""
    if "$" not in line:
        return line
    pieces = []
    pos = 0
    for span in _CODE_SPAN.finditer(line):
        pieces.append(_math_to_code(line[pos : span.start()]))
        pieces.append(span.group(0))
        pos = span.end()
    pieces.append(_math_to_code(line[pos:]))
    return "".join(pieces)


def _math_to_code(text: str) -> str:
    def code(match: re.Match[str]) -> str:
        body = match.group(0)
        longest = max((len(r) for r in re.findall("`+", body)), default=0)
        ticks = "`" * (longest + 1)
        pad = " " if body.startswith("`") or body.endswith("`") else ""
        return f"{ticks}{pad}{body}{pad}{ticks}"

    text = _DISPLAY_INLINE.sub(code, text)
    # Inline math already turned into code above must not be matched again.
    parts = re.split(r"(`+[^`]*`+)", text)
    return "".join(p if p.startswith("`") else _INLINE_MATH.sub(code, p) for p in parts)


def highlight_terms(
    question: str | Query, passage: str, expansion: Expansion | None = None
) -> list[str]:
    """The words of ``passage`` that the question asked about, as they appear in it.

    ``question``: the ``Query`` the search analysed (its Chinese words as the index's
    tokenizer cut them, its glossary expansion), or a plain question (cut by the
    tokenizer taught no words; ``expansion`` then gives the glossary's forms).
    English words match by stem (``normalise`` marks ``normalization``); the glossary's
    other-language forms of the question's terms count too (``BN`` marks ``Batch Norm``
    and ``批归一化``). Stop words and question words such as "what are" are never marked.
    Longest first, each once (case-insensitively).
    """
    if isinstance(question, str):
        text, tokenizer = question, PLAIN
        words = [w for run in _HAN_RUN.findall(question) for w in tokenizer.segment(run)]
    else:
        text, tokenizer, words = question.text, question.tokenizer, question.words
        expansion = question.expansion
    tokenize = tokenizer.tokenize
    stems: set[str] = set()
    phrases: set[str] = set()

    def add_form(form: str) -> None:
        form = " ".join(form.split())
        if not form:
            return
        if has_chinese(form):
            if form not in CHINESE_STOPWORDS and len(form) >= 2:
                phrases.add(form.lower())
            return
        tokens = tokenize(form)
        if not tokens:
            return
        if _LATIN_WORD.fullmatch(form) and len(tokens) == 1:
            stems.add(tokens[0])
        else:
            phrases.add(form.lower())

    for word in _LATIN_WORD.findall(text):
        add_form(word)
    for word in words:
        add_form(word)
    if expansion is not None:
        for match in expansion.matches:
            for concept in match.concepts:
                for form in concept.forms:
                    add_form(form)

    found: dict[str, str] = {}
    for word in _LATIN_WORD.findall(passage):
        key = word.lower()
        if key not in found and (tokens := tokenize(word)) and tokens[0] in stems:
            found[key] = word
    lowered = " ".join(passage.lower().replace("-", " ").split())
    for phrase in phrases:
        if phrase.replace("-", " ") in lowered:
            found.setdefault(phrase, phrase)
    return sorted(found.values(), key=lambda t: (-len(t), t.lower()))


def highlight_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for ``terms``; Latin terms only match whole words."""
    alternatives = []
    for term in sorted(set(terms), key=len, reverse=True):
        words = re.split(r"[\s\-]+", term.strip())
        body = r"[\s\-]+".join(re.escape(w) for w in words if w)
        if not body:
            continue
        if re.match(r"[A-Za-z0-9]", term[0]):
            body = r"(?<![A-Za-z0-9])" + body
        if re.match(r"[A-Za-z0-9+#]", term[-1]):
            body += r"(?![A-Za-z0-9])"
        alternatives.append(body)
    if not alternatives:
        return None
    return re.compile("|".join(alternatives), re.IGNORECASE)


_MARKDOWN_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")
_WORD = re.compile(r"\w+")


def answer_pattern(sentences: Iterable[str]) -> re.Pattern[str] | None:
    """A pattern matching each sentence as a Markdown viewer renders it: its words in
    order, with anything but letters and digits between them (emphasis marks and link
    targets are gone once rendered)."""
    alternatives = []
    for sentence in sentences:
        plain = _MARKDOWN_LINK.sub(r"\1", sentence)
        words = _WORD.findall(plain)
        if words:
            body = r"\W*?".join(re.escape(w) for w in words)
            end = re.search(r"[^\w\s*_`]+$", plain.rstrip("*_` \n"))
            if end:  # the full stop too, when the rendered text has it
                body += f"(?:[*_`]*{re.escape(end.group(0))})?"
            alternatives.append(body)
    if not alternatives:
        return None
    return re.compile("|".join(f"(?:{a})" for a in alternatives))
