"""A bilingual glossary of ML terms, used to carry questions across languages.

The shipped glossary is ``qa/data/glossary.tsv``: one concept per line, its surface
forms separated by tabs (Chinese forms, English forms, abbreviations). A user's notes
extend it in two ways: a ``glossary.tsv`` in the notes folder, and term pairs mined at
build time from patterns such as ``批归一化（Batch Normalization）``.

Matching is on normalised text (NFKC, lower case, hyphens as spaces); the longest form
wins, and a Latin form only matches whole words.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from qa.lang.text import HAN, HAN_RUN, has_chinese, normalise
from qa.settings import PACKAGE_ROOT

SHIPPED = PACKAGE_ROOT / "data" / "glossary.tsv"
USER_FILE = "glossary.tsv"

_LATIN = re.compile(r"[a-z0-9]")
_HAN_RUN = HAN_RUN


def match_form(text: str) -> str:
    """The normal form used for matching: NFKC, lower case, hyphens as spaces."""
    text = normalise(text).replace("-", " ").replace("_", " ")
    return " ".join(text.split())


@dataclass(frozen=True)
class Concept:
    """One term and its surface forms in both languages."""

    forms: tuple[str, ...]
    source: str = "glossary"  # or "file.md:12" for a mined pair
    kind: str = "term"  # "question" for question words (为什么 → why), which carry no topic

    @property
    def english(self) -> tuple[str, ...]:
        return tuple(f for f in self.forms if not has_chinese(f))

    @property
    def chinese(self) -> tuple[str, ...]:
        return tuple(f for f in self.forms if has_chinese(f))


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    text: str
    concepts: tuple[Concept, ...]


@dataclass
class Expansion:
    """A question carried across languages by the glossary."""

    english: str  # the question rendered in English words, for English-only models
    extra_terms: list[str] = field(default_factory=list)  # other-language forms, for BM25
    matches: list[Match] = field(default_factory=list)


def _usable(concepts: Iterable[Concept]) -> list[Concept]:
    return [c for c in concepts if c.english and c.chinese]


def concepts_digest(concepts: Iterable[Concept]) -> str:
    """What a glossary of these concepts is, for the index manifest: ``Glossary.digest``
    without building the glossary's lookup tables."""
    data = "\n".join("\t".join(c.forms) for c in _usable(concepts))
    return hashlib.sha1(data.encode()).hexdigest()[:16]


class Glossary:
    def __init__(self, concepts: Iterable[Concept]):
        self.concepts = _usable(concepts)
        self._by_form: dict[str, list[Concept]] = {}
        for concept in self.concepts:
            for form in concept.forms:
                key = match_form(form)
                if key:
                    bucket = self._by_form.setdefault(key, [])
                    if concept not in bucket:
                        bucket.append(concept)
        # For each first character, the lengths of the forms that start with it, longest first.
        lengths: dict[str, set[int]] = {}
        for key in self._by_form:
            lengths.setdefault(key[0], set()).add(len(key))
        self._lengths = {ch: sorted(ls, reverse=True) for ch, ls in lengths.items()}

    def __len__(self) -> int:
        return len(self.concepts)

    def chinese_forms(self) -> list[str]:
        return sorted({f for c in self.concepts for f in c.chinese})

    def find(self, text: str) -> list[Match]:
        """Non-overlapping glossary forms in ``text`` (already in match form), longest first."""
        matches = []
        i = 0
        n = len(text)
        while i < n:
            found = None
            if text[i] != " ":
                for length in self._lengths.get(text[i], ()):
                    if i + length > n:
                        continue
                    piece = text[i : i + length]
                    concepts = self._by_form.get(piece)
                    if concepts and _whole_words(text, i, i + length):
                        found = Match(i, i + length, piece, tuple(concepts))
                        break
            if found:
                matches.append(found)
                i = found.end
            else:
                i += 1
        return matches

    def expand(self, question: str) -> Expansion:
        """Render the question in English words and list the other language's forms."""
        text = match_form(question)
        matches = self.find(text)
        pieces: list[str] = []
        extra: list[str] = []
        pos = 0
        for m in matches:
            pieces.append(_latin_only(text[pos : m.start]))
            concept = m.concepts[0]
            if has_chinese(m.text):
                pieces.append(concept.english[0])
            else:
                pieces.append(m.text)
                full = concept.english[0]
                if match_form(full) != m.text:
                    pieces.append(full)
            for c in m.concepts:
                extra += [f for f in c.forms if match_form(f) != m.text]
            pos = m.end
        pieces.append(_latin_only(text[pos:]))
        english = " ".join(" ".join(pieces).split())
        return Expansion(english, list(dict.fromkeys(extra)), matches)

    def render_english(self, text: str) -> str:
        """Text with its Chinese replaced by glossary English, for English-only models.

        Text without Chinese is returned as it is.
        """
        return self.expand(text).english if has_chinese(text) else text

    def digest(self) -> str:
        return concepts_digest(self.concepts)


def _whole_words(text: str, start: int, end: int) -> bool:
    """A form starting or ending in a Latin letter must not cut a Latin word."""
    if _LATIN.match(text[start]) and start > 0 and _LATIN.match(text[start - 1]):
        return False
    return not (_LATIN.match(text[end - 1]) and end < len(text) and _LATIN.match(text[end]))


def _latin_only(text: str) -> str:
    """Unmatched Chinese is dropped from the English rendering; Latin words stay."""
    return _HAN_RUN.sub(" ", text)


VETO = "!"  # a line of a notes folder's glossary.tsv that starts so vetoes a mined pair
_VETO_SPLIT = re.compile(r"\t|\s*=\s*")


class GlossaryFileError(ValueError):
    """A glossary file that cannot be read as text."""


def glossary_lines(path: Path) -> list[str]:
    """The lines of a glossary file; GlossaryFileError when it is not UTF-8 text."""
    try:
        return Path(path).read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise GlossaryFileError(f"{path} is not UTF-8 text: save it as UTF-8") from None


def read_glossary_file(path: Path, source: str = "glossary") -> list[Concept]:
    """Concepts from a TSV file: comments start with #, forms are tab-separated.

    Lines after a ``# question words`` comment are question words, not topics. Lines
    that start with ``!`` are vetoes (``read_vetoes``), not concepts.
    """
    concepts = []
    kind = "term"
    for line in glossary_lines(path):
        if line.lstrip().startswith("#"):
            kind = "question" if "question words" in line.lower() else "term"
            continue
        if line.lstrip().startswith(VETO):
            continue
        forms = tuple(dict.fromkeys(f.strip() for f in line.split("\t") if f.strip()))
        if len(forms) >= 2:
            concepts.append(Concept(forms, source, kind))
    return concepts


@lru_cache(maxsize=1)
def shipped_concepts() -> tuple[Concept, ...]:
    return tuple(read_glossary_file(SHIPPED))


def notes_concepts(corpus: Path) -> list[Concept]:
    """The concepts of the notes folder's own glossary.tsv (none without one)."""
    path = Path(corpus) / USER_FILE
    return read_glossary_file(path, source=USER_FILE) if path.is_file() else []


def load_glossary(corpus: Path | None = None, mined: Sequence[Concept] = ()) -> Glossary:
    """The shipped glossary, plus the notes folder's own glossary.tsv, plus mined pairs.

    A search reads the folder's glossary as the index recorded it (``Index.glossary``),
    never from the folder at query time."""
    return Glossary(glossary_concepts(corpus, mined))


def glossary_concepts(corpus: Path | None = None, mined: Sequence[Concept] = ()) -> list[Concept]:
    """The concepts ``load_glossary`` makes its glossary of."""
    own = notes_concepts(corpus) if corpus is not None else []
    return [*shipped_concepts(), *own, *mined]


Veto = tuple[str, ...]  # forms (in match_form) no mined pair may join


def parse_veto(line: str) -> Veto | None:
    """The forms a glossary line ``!方法<TAB>Glorot and Bengio`` (or ``!方法 = Glorot and
    Bengio``, as ``qa glossary`` shows pairs; or ``!方法`` alone) vetoes; None for a line
    that is no veto."""
    line = line.strip()
    if not line.startswith(VETO):
        return None
    forms = tuple(dict.fromkeys(match_form(f) for f in _VETO_SPLIT.split(line[1:])))
    return tuple(f for f in forms if f) or None


def read_vetoes(path: Path) -> list[Veto]:
    """The vetoes of a glossary file (``parse_veto``): each drops every mined pair that
    has all of its forms. GlossaryFileError when the file is not UTF-8."""
    return [veto for line in glossary_lines(path) if (veto := parse_veto(line))]


def notes_vetoes(corpus: Path) -> list[Veto]:
    """The vetoes of the notes folder's own glossary.tsv (none without one)."""
    path = Path(corpus) / USER_FILE
    return read_vetoes(path) if path.is_file() else []


def glossary_digest(corpus: Path) -> str:
    """What the index records of the folder's glossary: its concepts and vetoes."""
    digest = concepts_digest(glossary_concepts(corpus))
    vetoes = notes_vetoes(corpus)
    if not vetoes:
        return digest
    listed = "\n".join("\t".join(v) for v in vetoes)
    return f"{digest}:{hashlib.sha1(listed.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class LeftOut:
    """A mined pair the glossary does not take, and why."""

    concept: Concept
    why: str


def keep_mined(
    mined: Sequence[Concept], known: Sequence[Concept], vetoes: Sequence[Veto] = ()
) -> tuple[list[Concept], list[LeftOut]]:
    """The mined pairs worth taking, each once, and those left out.

    Left out: a pair the user vetoed (``read_vetoes``), and a pair that gives a Chinese
    term the glossary already knows (shipped, or the folder's glossary.tsv) an English
    meaning it does not have (compared by stemmed words). Mining takes the last few
    Chinese words before a parenthesis, and a known word there is nearly always the
    tail of a longer term cut short: "Bagging 方法（Bootstrap AGGregatING）" gives
    方法 = Bootstrap AGGregatING, and then every question with 方法 in it ("有哪些方法")
    would search for it. A pair found in several places is kept once, with its first
    place."""
    from qa.lang.text import tokenize

    def words(forms: Iterable[str]) -> set[frozenset[str]]:
        """English forms as their stemmed words: "Atrous Convolutions" is "atrous
        convolution", "saturate" is "saturation"."""
        return {frozenset(tokenize(f)) or frozenset([match_form(f)]) for f in forms}

    meanings: dict[str, set[frozenset[str]]] = {}
    for concept in known:
        if not concept.english:  # Chinese forms only: the glossary leaves it out too
            continue
        english = words(concept.english)
        for zh in concept.chinese:
            meanings.setdefault(match_form(zh), set()).update(english)
    kept, left_out, seen = [], [], set()
    for concept in mined:
        forms = frozenset(match_form(f) for f in concept.forms)
        if forms in seen:
            continue
        seen.add(forms)
        if any(set(v) <= forms for v in vetoes):
            left_out.append(LeftOut(concept, "vetoed in glossary.tsv"))
            continue
        english = words(concept.english)
        clash = next(
            (
                zh
                for zh in concept.chinese
                if match_form(zh) in meanings and not meanings[match_form(zh)] & english
            ),
            None,
        )
        if clash is not None:
            left_out.append(LeftOut(concept, f"{clash} already means another term in the glossary"))
            continue
        kept.append(concept)
    return kept, left_out


# ---------------------------------------------------------------------------- mining

_STOP_CHARS = "的是和与及用在为把对中了或即叫称将被从由以其这那个种做"
_LEADING_WORDS = {
    "比如",
    "例如",
    "作为",
    "并",
    "使用",
    "采用",
    "通过",
    "就是",
    "称为",
    "叫做",
    "也",
    "即",
    "支持",
    "所谓",
    "一种",
    "这种",
    "叫",
    "用",
}
_ZH_THEN_EN = re.compile(
    rf"([{HAN}]{{2,16}})\s*[（(]\s*([A-Za-z][A-Za-z0-9 .+\-/&,，、;；']{{0,80}}?)\s*[)）]"
)
# English words: up to six, space-separated (a hyphen is part of a word). The runs are
# possessive: a word is never given back, since what follows it (a space, a parenthesis)
# is not a word character. Letting hyphens also separate words made a long hyphenated
# URL anchor backtrack for minutes (bench/mine_pairs.py).
_EN_THEN_ZH = re.compile(
    r"([A-Za-z][A-Za-z0-9+\-]*+(?: [A-Za-z0-9+\-]++){0,5})"  # English words
    rf"\s*[（(]\s*([{HAN}]{{2,12}})\s*[)）]"  # then Chinese in parentheses
)
_EN_SPLIT = re.compile(r"\s*[,，、;；/]\s*")


def mine_pairs(text: str, file: str) -> list[Concept]:
    """Term pairs written the way bilingual notes write them.

    ``中文（English）``, ``中文(English, ABBR)`` and ``English (中文)``.
    """
    found = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        source = f"{file}:{lineno}"
        for zh, en in _ZH_THEN_EN.findall(line):
            stripped = (_strip_article(e) for e in _EN_SPLIT.split(en))
            english = [e for e in stripped if _plausible_english(e)]
            term = _last_term(zh, english[0]) if english else None
            if term:
                found.append(Concept((term, *english), source))
        for en, zh in _EN_THEN_ZH.findall(line):
            english_term = _english_term(en)
            if english_term and len(zh) <= 10:
                found.append(Concept((zh, english_term), source))
    return found


def _last_term(han: str, english: str) -> str | None:
    """The Chinese term right before the parenthesis.

    The run of Chinese before it often starts with other words ("这份笔记整理集成学习"),
    so we keep the last whole words, about as many characters as the English term has
    words times two, and drop a leading function word.
    """
    from qa.lang.text import segment

    english = english.strip()
    n_words = len(english) if english.isupper() else len(re.split(r"[\s\-]+", english))
    limit = min(8, max(2, 2 * n_words + 1))
    words = segment(han)
    kept: list[str] = []
    for word in reversed(words):
        if kept and len(word) + sum(map(len, kept)) > limit:
            break
        kept.insert(0, word)
    while kept and kept[0] in _LEADING_WORDS:
        kept.pop(0)
    term = "".join(kept).lstrip(_STOP_CHARS)
    return term if 2 <= len(term) <= 10 else None


def _strip_article(text: str) -> str:
    return re.sub(r"^(a|an|the)\s+", "", text.strip(), flags=re.IGNORECASE)


_ABBREVIATION = re.compile(r"[A-Z][A-Z0-9+#]+|[0-9]+[A-Z]+")  # SVM, L1, F1, C++, 2D


def _plausible_english(text: str) -> bool:
    """A term, not a formula's variables: a word of three letters or more that is no stop
    word ("Bias", "Type I error"; not "for i"), or an abbreviation ("GB", "L1", "C++").
    Notes on code write "一个点(i, ai)" and "位置(i, j)", and every question with "I" in it
    found 一个点."""
    from qa.lang.text import tokenize

    words = text.split()
    if not 1 <= len(words) <= 6:
        return False
    if len(words) == 1 and _ABBREVIATION.fullmatch(words[0]):
        return True
    return any(len(re.sub(r"[^a-z]", "", t)) >= 3 for t in tokenize(text))  # no stop words


def _english_term(text: str) -> str | None:
    words = text.split()[-4:]
    capital = next((i for i, w in enumerate(words) if w[:1].isupper()), None)
    words = words[capital:] if capital is not None else words[-2:]
    while words and words[0].lower() in ("a", "an", "the", "and", "or", "of", "to"):
        words.pop(0)
    term = " ".join(words).strip(" -")
    return term if term and _plausible_english(term) else None
