"""Interview drill cards made from the notes themselves (``qa quiz``).

Every answered section whose heading is a question is a card: the heading is the front,
the section's text the back. A bold question on the first line of a section's text is a
front too. A section whose heading is only a topic ("Dropout") gets a generated front
("What is dropout?" / "什么是dropout？"), marked as generated. Cards are read from the
index (qa.store.index chunks), never by parsing the notes again.

A card's identity is its note and heading path, so it survives edits; its content hash
says when the section's text changed. Scheduling and storage live in qa.study.quiz_store;
this module never imports the UI.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from qa.lang.text import detect_language, has_chinese

if TYPE_CHECKING:
    from qa.lang.dictionary import Dictionary
    from qa.lang.glossary import Glossary
    from qa.store.chunks import Chunk

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------- questions

_EN_QUESTION_START = re.compile(
    r"^(why|what|whats|what's|how|when|which|who|whom|where|is|are|was|were|does|do|did|"
    r"can|could|should|would|will|shall|may|might|explain|describe|derive|define|compare|"
    r"contrast|list|name|give|prove|calculate|compute|discuss|tell|difference|differences)\b",
    re.IGNORECASE,
)
_EN_COMPARISON = re.compile(r"\S\s+vs\.?\s+\S|\bversus\b|\bdifference between\b", re.IGNORECASE)
_NUMBERED_Q = re.compile(r"^\s*Q\s*\d+\s*[:：.、)）]", re.IGNORECASE)
_LIST_NUMBER = re.compile(r"^\s*(\d+[.、)）]|[(（]\d+[)）])\s*")
_ZH_QUESTION = re.compile(
    r"为什么|为何|什么是|是什么|是啥|如何|怎么|怎样|哪些|哪个|哪种|多少|能否|是否|吗\s*[？?]?\s*$|"
    r"(区别|联系|关系|异同|优缺点|差异|原因|作用|意义)\s*[？?]?\s*$|^(说下|说说|讲讲|简述|介绍一下|谈谈|解释|你了解)"
)
_BOLD_LINE = re.compile(r"^\s*(?:[-*]\s+)?\*\*(.+?)\*\*\s*[:：]?\s*$")
_TODO = re.compile(r"\s*\bTODO\b\s*$")
# Headings that only make sense with their parent: "Dropout › Purpose".
GENERIC_HEADINGS = frozenset(
    """purpose steps methods method overview introduction intro summary definition definitions
    examples example advantages disadvantages pros cons notes background usage implementation
    formula intuition motivation applications types properties characteristics details
    algorithm idea 理念 原理 定义 步骤 方法 优点 缺点 作用 应用 示例 例子 总结 简介 概述""".split()
)
MAX_GENERATED_CHARS = 40
# Headings that are not topics at all: no card is generated for them.
NOT_TOPICS = frozenset(
    """index reference references roadmap toc contents resources links resume todo
    目录 参考 参考文献 参考资料 链接 相关链接 资源""".split()
) | {"table of contents", "see also", "further reading"}


def is_question(text: str) -> bool:
    """Whether a heading (or bold line) asks something, in English or Chinese."""
    text = text.strip()
    if not text:
        return False
    if text.endswith(("?", "？")) or _NUMBERED_Q.match(text):
        return True
    body = _LIST_NUMBER.sub("", text, count=1)
    if has_chinese(body) and _ZH_QUESTION.search(body):
        return True
    return bool(_EN_QUESTION_START.match(body) or _EN_COMPARISON.search(body))


def question_language(text: str) -> str:
    """``en``, ``zh``, or ``both`` when the text asks in both languages."""
    zh = has_chinese(text)
    latin = re.sub(r"[\u3400-\u9fff\uf900-\ufaff]+", " ", text)
    english_sentence = bool(re.search(r"[A-Za-z]+\s+[A-Za-z]+\s+[A-Za-z]+.*[?]", latin))
    if zh and english_sentence:
        return "both"
    return detect_language(text)


def generated_front(heading: str, parent: str | None = None) -> str | None:
    """A question made from a topic heading, in the heading's language; None when the
    heading is too long to be a topic."""
    topic = _TODO.sub("", _LIST_NUMBER.sub("", heading.strip(), count=1)).strip(" :：")
    if not topic or len(topic) > MAX_GENERATED_CHARS:
        return None
    generic = topic.lower() in GENERIC_HEADINGS
    if detect_language(topic) == "zh":
        if generic and parent:
            return f"{_strip(parent)}的{topic}是什么？"
        return f"什么是{topic}？"
    if generic and parent:
        return f"{topic} of {_lower_words(_strip(parent))}?"
    return f"What is {_lower_words(topic)}?"


def _strip(heading: str) -> str:
    return _TODO.sub("", _LIST_NUMBER.sub("", heading.strip(), count=1)).strip(" :：")


def _lower_words(text: str) -> str:
    """Title-cased words lowered ("Batch Normalization" → "batch normalization");
    acronyms and mixed case (CNN, ReLU, XGBoost) are kept."""
    return " ".join(w.lower() if w[:1].isupper() and w[1:].islower() else w for w in text.split())


# ---------------------------------------------------------------------------- cards


@dataclass(frozen=True)
class Section:
    """A whole answered section, its windows joined: what a card's back shows."""

    file: str
    heading_path: tuple[str, ...]
    line: int  # the heading's line, 1-based
    text: str

    @property
    def heading(self) -> str:
        return self.heading_path[-1]


@dataclass(frozen=True)
class QuizCard:
    """One card: a front (question), and the section that answers it."""

    key: str  # file + heading path (+ the question, for a question you asked)
    front: str
    lang: str  # en, zh, both
    generated: bool
    section: Section
    back: str  # the section's text, without a bold question line used as the front
    source: str = "notes"  # or "asked"

    @property
    def file(self) -> str:
        return self.section.file

    @property
    def line(self) -> int:
        return self.section.line

    @property
    def content_hash(self) -> str:
        data = f"{self.front}\n\x00{self.back}".encode()
        return hashlib.sha1(data).hexdigest()[:16]


def sections_of(chunks: Iterable[Chunk]) -> list[Section]:
    """Answered sections of the index, in note order, each once: windows of one section
    (Chunk.part/parts) are joined, and a section found in several notes is one card per
    note it is in (the note is part of its identity)."""
    parts: dict[tuple[str, int, tuple[str, ...]], dict[int, str]] = {}
    for chunk in chunks:
        if not chunk.answered:
            continue
        for loc in chunk.locations:
            line = loc.section_line or loc.start_line
            key = (loc.file, line, loc.heading_path)
            parts.setdefault(key, {})[chunk.part] = chunk.text
    out = []
    for (file, line, path), texts in sorted(parts.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        text = "\n\n".join(texts[p] for p in sorted(texts))
        out.append(Section(file, path, line, text))
    return out


def section_key(file: str, heading_path: Sequence[str]) -> str:
    return file + "::" + " › ".join(heading_path)


def cards_from_sections(sections: Iterable[Section]) -> list[QuizCard]:
    """Every card the sections make: question headings, bold question lines, and
    generated fronts for topic headings (marked ``generated``). The same question with
    the same answer in two notes is one card (in the first note)."""
    cards: list[QuizCard] = []
    seen: dict[str, int] = {}
    contents: set[tuple[str, str]] = set()  # a section copied into two notes is one card
    for section in sections:
        key = section_key(section.file, section.heading_path)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:  # the same heading path twice in one note
            key = f"{key} #{seen[key]}"
        card = _card(section, key)
        if card is not None and (card.front, card.back) not in contents:
            contents.add((card.front, card.back))
            cards.append(card)
    return cards


def _card(section: Section, key: str) -> QuizCard | None:
    heading = section.heading.strip()
    if is_question(heading):
        return QuizCard(key, heading, question_language(heading), False, section, section.text)
    first, _, rest = section.text.lstrip().partition("\n")
    bold = _BOLD_LINE.match(first)
    if bold and is_question(bold.group(1)) and rest.strip():
        front = bold.group(1).strip()
        return QuizCard(key, front, question_language(front), False, section, rest.strip())
    if len(section.heading_path) < 2 or _strip(heading).lower() in NOT_TOPICS:
        return None  # a note's title, or a list of links
    front = generated_front(heading, section.heading_path[-2])
    if front is None:
        return None
    return QuizCard(key, front, detect_language(front), True, section, section.text)


def asked_card(question: str, section: Section) -> QuizCard:
    """A question the user asked, with the section that answered it as its back."""
    key = f"{section_key(section.file, section.heading_path)}::asked::{question.strip()}"
    front = question.strip()
    return QuizCard(key, front, question_language(front), False, section, section.text, "asked")


def in_paths(card: QuizCard, paths: Sequence[str]) -> bool:
    """Whether the card's note is one of ``paths`` (files or folders, relative to the
    notes folder); no paths: every card."""
    if not paths:
        return True
    note = PurePosixPath(card.file)
    for path in paths:
        wanted = PurePosixPath(path.strip("/")) if path.strip("/") not in ("", ".") else None
        if wanted is None or note == wanted or wanted in note.parents:
            return True
    return False


def relative_filter(corpus: Path, paths: Sequence[Path | str]) -> list[str]:
    """``--in`` arguments as paths inside the notes folder; ValueError for one outside."""
    out = []
    root = corpus.resolve()
    for raw in paths:
        path = Path(raw)
        full = (path if path.is_absolute() else Path.cwd() / path).resolve()
        if not full.exists() and not path.is_absolute():
            full = (root / path).resolve()  # relative to the notes folder
        try:
            out.append(full.relative_to(root).as_posix())
        except ValueError:
            raise ValueError(f"{raw} is not inside the notes folder {corpus}") from None
    return out


# ---------------------------------------------------------------------------- answering sentences


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])(?:\s+|(?=[^\s.!?。！？\d]))|\n\s*\n")


def answering_sentences(question: str, text: str) -> list[str]:
    """The sentences of ``text`` that answer ``question``, to mark on the back.

    The seam for qa's answering-sentence finder: until it exists, the section's first
    sentence (its first line of prose, skipping headings, code and tables)."""
    fence: str | None = None
    quoted: str | None = None  # a quotation is often only the source; prose comes first
    for line in text.split("\n"):
        stripped = line.strip()
        if fence is not None:
            fence = None if stripped.startswith(fence) else fence
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        if not stripped or stripped.startswith(("#", "|", "$$", "![")):
            continue
        prose = re.sub(r"^(>\s*)*([-*+]|\d+[.)])?\s*", "", stripped)
        sentence = _SENTENCE_END.split(prose, maxsplit=1)[0].strip()
        if not sentence:
            continue
        if stripped.startswith(">"):
            quoted = quoted or sentence
            continue
        return [sentence]
    return [quoted] if quoted else []


# ---------------------------------------------------------------------------- typed answer


@dataclass(frozen=True)
class Term:
    """A key term of a card's back, with every form that counts as saying it."""

    shown: str  # as the back writes it
    forms: frozenset[str] = field(default_factory=frozenset)  # match forms (glossary)
    stem: str | None = None  # an English word's stem
    chinese: str | None = None  # a Chinese word


@dataclass(frozen=True)
class Coverage:
    """Which key terms of the back a typed answer says (a hint, never a grade)."""

    covered: list[str]
    missed: list[str]

    @property
    def share(self) -> float:
        total = len(self.covered) + len(self.missed)
        return len(self.covered) / total if total else 0.0


MAX_TERMS = 10
# Words too common in explanations to be what an answer must say (beyond qa.lang.text's stopwords).
_PLAIN_WORDS = frozenset(
    """cannot also thus hence however often usually etc 之间 相同 进行 通过 可以 因为 所以 但是
    如果 以及 然后 一般 主要 就是 这样 比如 例如 即可 或者 不同 情况 方式""".split()
)
# Link targets, addresses and file paths name sources, not what the answer says.
_NOT_PROSE = re.compile(r"\]\([^)]*\)|<?https?://\S+|\S*/\S*\.(?:md|html?|pdf|png|jpg)\b\S*")
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#\-]*")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def key_terms(back: str, glossary: Glossary | None = None, limit: int = MAX_TERMS) -> list[Term]:
    """The back's key terms: glossary terms first, then its most frequent content words
    (stemmed English words of three letters or more, Chinese words of two characters or
    more), each once."""
    from qa.lang.glossary import match_form
    from qa.lang.text import CHINESE_STOPWORDS, ENGLISH_STOPWORDS, segment, tokenize

    back = _NOT_PROSE.sub(" ", back)
    terms: list[Term] = []
    covered_stems: set[str] = set()
    covered_zh: set[str] = set()
    if glossary is not None:
        counts: dict[tuple[str, ...], tuple[int, Term]] = {}
        for match in glossary.find(match_form(back)):
            if all(c.kind == "question" for c in match.concepts):
                continue  # "which", "what are": question words carry no topic
            concept = match.concepts[0]
            forms = frozenset(match_form(f) for c in match.concepts for f in c.forms)
            n, _ = counts.get(concept.forms, (0, None))
            counts[concept.forms] = (n + 1, Term(_as_written(back, match.text), forms))
        for _, term in sorted(counts.values(), key=lambda nt: -nt[0]):
            terms.append(term)
            for form in term.forms:
                if has_chinese(form):
                    covered_zh.update(segment(form))
                    covered_zh.add(form)
                else:
                    covered_stems.update(tokenize(form))
    count: dict[str, int] = {}
    found: dict[str, Term] = {}  # in order of first appearance
    for word in _EN_WORD.findall(back):
        if len(word) < 3 or word.lower() in ENGLISH_STOPWORDS or word.lower() in _PLAIN_WORDS:
            continue
        stems = tokenize(word)
        if len(stems) != 1 or stems[0] in covered_stems:
            continue
        found.setdefault("en:" + stems[0], Term(word, stem=stems[0]))
        count["en:" + stems[0]] = count.get("en:" + stems[0], 0) + 1
    for run in _HAN_RUN.findall(back):
        for word in segment(run):
            if len(word) < 2 or word in CHINESE_STOPWORDS or word in _PLAIN_WORDS:
                continue
            if word in covered_zh:
                continue
            found.setdefault("zh:" + word, Term(word, chinese=word))
            count["zh:" + word] = count.get("zh:" + word, 0) + 1
    order = {key: n for n, key in enumerate(found)}
    for key in sorted(found, key=lambda k: (-count[k], order[k])):
        if len(terms) >= limit:
            break
        terms.append(found[key])
    return terms[:limit]


def _as_written(text: str, form: str) -> str:
    """``form`` (in match form) as ``text`` writes it: "overfitting" → "Overfitting"."""
    from qa.retrieve.passage import highlight_pattern

    pattern = highlight_pattern([form])
    found = pattern.search(text) if pattern is not None else None
    return found.group(0) if found else form


def answer_coverage(
    answer: str,
    back: str,
    glossary: Glossary | None = None,
    dictionary: Dictionary | None = None,
) -> Coverage:
    """Which key terms of ``back`` the typed ``answer`` says, in either language: a
    glossary term counts in any of its forms (过拟合 says "overfitting"), and a word the
    glossary lacks counts through the dictionary (随机 says "random")."""
    from qa.lang.glossary import match_form
    from qa.lang.text import tokenize

    said = match_form(answer)
    stems = set(tokenize(answer))
    concepts: set[str] = set()
    if glossary is not None:
        for match in glossary.find(said):
            concepts.update(match_form(f) for c in match.concepts for f in c.forms)

    def known_english(word: str) -> bool:
        return all(t in stems for t in tokenize(word)) and bool(tokenize(word))

    def known_chinese(word: str) -> bool:
        return word in said

    covered: list[str] = []
    missed: list[str] = []
    for term in key_terms(back, glossary):
        if term.forms:
            hit = bool(term.forms & concepts) or any(
                (f in said if has_chinese(f) else f in concepts) for f in term.forms
            )
        elif term.stem is not None:
            hit = term.stem in stems or any(
                dictionary.chinese(form, known_chinese)
                for form in {term.shown.lower(), term.stem}
                if dictionary is not None
            )
        else:
            word = term.chinese or ""
            hit = word in said or bool(dictionary and dictionary.english(word, known_english))
        (covered if hit else missed).append(term.shown)
    return Coverage(covered, missed)


def section_of(chunks: Iterable[Chunk], file: str, line: int) -> Section | None:
    """The whole section of the notes at ``file``, starting at ``line``."""
    for section in sections_of(c for c in chunks if any(loc.file == file for loc in c.locations)):
        if section.file == file and section.line == line:
            return section
    return None
