"""The sentences of a passage that answer the question, found without a language model.

A passage is cut into *units* (``split_units``): English sentences, Chinese sentences
(ending at 。！？；), list items, table rows, a whole fenced code block, a whole ``$$``
math block; inline math and code spans are never cut. Each unit keeps its character
offsets into the passage text, so ``text[start:end]`` is the unit.

Each unit is scored against the question (``SpanContext``) by a linear score over
FEATURES: the share of the question's topic terms it contains (glossary and dictionary
forms included), whether it says what the question's intent asks for (a "why" question
prefers "because / 因为 / 由于 / so that"; a "difference" question a unit with both
terms), whether it comes under a lead-in that matches ("**Cons:**" for 缺点), penalties
for lead-ins, questions, link-only and very short units, and its similarity to the
question in the dense channels that are loaded (MiniLM for English, e5 for Chinese and
cross-lingual). Embedding costs ~2-8 ms a unit, so only the best DENSE_CANDIDATES units
by the other features are embedded, and only for the top DENSE_HITS passages. The best
unit is marked (with its neighbour when it scores within ``second_within``); nothing is
marked when no unit has a single term of the question. The weights are fitted on the dev
halves of the labelled sentence sets (``bench/sentences.py --fit``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from qa.lang.text import has_chinese, tokenize
from qa.retrieve.confidence import Term
from qa.retrieve.rerank import intents

# ---------------------------------------------------------------------------- units

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


# ---------------------------------------------------------------------------- scoring

# What a unit says when it gives what a question's intent asks for.
CUES: dict[str, tuple[str, str]] = {
    "why": (
        r"\bbecause\b|\bsince\b|\bdue to\b|\bso that\b|\bin order to\b|\bthus\b|\btherefore\b"
        r"|\bhence\b|\bas a result\b|\bcauses?\b|\bleads? to\b|\bhelps?\b|\ballows?\b"
        r"|\bprevents?\b|\breason\b|\bbecause of\b",
        r"因为|由于|所以|因此|为了|从而|导致|使得|原因|以便|可以|能够|避免|防止",
    ),
    "how": (
        r"\bby\b|\busing\b|\buse\b|\bapply\b|\bstep\b|\bfirst\b|\bthen\b|\bcan be\b|\bcompute",
        r"通过|使用|采用|利用|方法|首先|然后|步骤|可以|计算",
    ),
    "compare": (
        r"\bwhereas\b|\bwhile\b|\bunlike\b|\binstead\b|\bhowever\b|\bbut\b|\bthan\b"
        r"|\bdiffer|\bcompared\b|\bon the other hand\b|\bboth\b|\bvs\.?\b",
        r"而|但|相比|不同|区别|差异|相对|然而|不像|都|vs",
    ),
    "proscons": (
        r"\badvantages?\b|\bdisadvantages?\b|\bbenefits?\b|\bdrawbacks?\b|\bpros?\b|\bcons?\b"
        r"|\blimitations?\b|\bbetter\b|\bworse\b|\bfaster\b|\bslower\b|\bexpensive\b",
        r"优点|缺点|优势|劣势|好处|不足|局限|缺陷|更快|更慢|代价",
    ),
    "what": (
        r"\bis an?\b|\bis the\b|\bare\b|\brefers? to\b|\bmeans?\b|\bdefined as\b|\bis when\b"
        r"|\bis used\b|\bdescribes?\b",
        r"是|指|称为|定义|表示|即",
    ),
    "when": (
        r"\bwhen\b|\bif\b|\bshould\b|\bprefer|\bsuitable\b|\bworks? (?:well|best)\b|\bbetter\b",
        r"当|如果|适用|适合|场景|时|应该|更好",
    ),
}
_CUE_RES = {
    name: (re.compile(en, re.IGNORECASE), re.compile(zh)) for name, (en, zh) in CUES.items()
}


def intent_cue(asked: frozenset[str], unit: str) -> float:
    """1 when the unit says something the question's intent asks for (see CUES)."""
    for name in asked:
        en, zh = _CUE_RES[name]
        if en.search(unit) or (has_chinese(unit) and zh.search(unit)):
            return 1.0
    return 0.0


FEATURES = (
    "dense",  # the unit's cosine similarity to the question
    "dense_rank",  # ... scaled within the passage: 1 for the most similar unit, 0 the least
    "coverage",  # share of the question's topic terms the unit contains
    "intent",  # the unit says what the question's intent asks for (CUES)
    "both_terms",  # a comparison question, and the unit has two of its terms
    "first",  # the passage's first unit
    "first_what",  # ... and the question asks what something is (it often says so)
    "short",  # under SHORT characters
    "block",  # a code or math block (rarely the answer in words)
    "lead_in",  # ends with a colon, or is a bold label alone: it announces what follows
    "asks",  # a question itself ("is a larger n always better?")
    "links",  # mostly a link or an image
    "label",  # comes under a lead-in ("**Cons:**") that says what the question asks
)
SHORT = 20
DENSE_CANDIDATES = 3  # units per passage embedded for the dense features (time budget)
MAX_UNIT_CHARS = 300  # what of a unit the dense channels read
# A question about drawbacks wants what comes under "Cons:", not under "Pros:".
_POLARITY = {
    "cons": re.compile(
        r"\bcons\b|disadvantage|drawback|limitation|weakness|downside|缺点|劣势|不足|局限|弊端|缺陷",
        re.IGNORECASE,
    ),
    "pros": re.compile(
        r"\bpros\b|advantage|benefit|strength|upside|优点|优势|好处|长处", re.IGNORECASE
    ),
}
_BOLD_LABEL = re.compile(r"^\s*(\*\*|__)[^*_\n]{1,80}\1\s*[:：]?\s*$")
_LINKS = re.compile(r"!?\[[^\]\n]*\]\([^)\n]*\)|https?://\S+")


@dataclass(frozen=True)
class SpanWeights:
    """A linear score over FEATURES; the best unit is marked when it reaches ``floor``,
    and the unit next to it too when it scores within ``second_within`` of it."""

    weights: Mapping[str, float]
    floor: float
    second_within: float

    def vector(self) -> np.ndarray:
        return np.array([self.weights.get(name, 0.0) for name in FEATURES])


# Fitted on the dev halves of the labelled sentence sets (bench/sentences.py --fit).
DEFAULT_WEIGHTS = SpanWeights(
    {
        "dense": 0.971,
        "dense_rank": 1.293,
        "coverage": 1.011,
        "intent": 1.06,
        "both_terms": 0.039,
        "first": -0.305,
        "first_what": 0.252,
        "short": -0.509,
        "block": 0.0,
        "lead_in": -1.231,
        "asks": -0.558,
        "links": -1.113,
        "label": 0.409,
    },
    floor=-9.0,
    second_within=0.0,
)


def unit_features(
    units: Sequence[Unit],
    question: str,
    terms: Sequence[Term],
    similarity: np.ndarray | None,
    tokenize: Callable[[str], list[str]] = tokenize,
) -> np.ndarray:
    """One row of FEATURES per unit. ``similarity``: each unit's cosine similarity to the
    question (None when no dense channel is loaded: the dense features are 0);
    ``tokenize``: the index's (``BilingualTokenizer.tokenize``)."""
    asked = intents(question)
    compare = "compare" in asked
    polarity = {name for name, p in _POLARITY.items() if p.search(question)}
    if similarity is not None and len(similarity):
        low, high = float(np.min(similarity)), float(np.max(similarity))
    rows = []
    label_matches = False  # the latest lead-in says what the question asks
    for n, unit in enumerate(units):
        tokens = set(tokenize(unit.text))
        have = sum(1 for t in terms if any(tokens.issuperset(f) for f in t))
        sim = float(similarity[n]) if similarity is not None else 0.0
        linked = sum(len(m.group(0)) for m in _LINKS.finditer(unit.text))
        lead_in = bool(
            unit.text.rstrip("*_ ").endswith((":", "：")) or _BOLD_LABEL.match(unit.text)
        )
        rows.append(
            [
                sim,
                (sim - low) / (high - low) if similarity is not None and high > low else 0.0,
                have / len(terms) if terms else 0.0,
                intent_cue(asked, unit.text),
                float(compare and have >= 2),
                float(n == 0),
                float(n == 0 and (not asked or "what" in asked)),
                float(len(unit.text) < SHORT),
                float(unit.kind in ("code", "math")),
                float(lead_in),
                float(unit.text.rstrip("*_ ").endswith(("?", "？"))),
                float(linked > 0.6 * len(unit.text)),
                float(label_matches and not lead_in),
            ]
        )
        if lead_in:
            said = {name for name, p in _POLARITY.items() if p.search(unit.text)}
            label_matches = bool(polarity & said) if said else have > 0
    return np.asarray(rows, dtype=np.float64).reshape(len(units), len(FEATURES))


def choose(scores: np.ndarray, weights: SpanWeights = DEFAULT_WEIGHTS) -> list[int]:
    """Positions of the answering units, best first: the best one, and a neighbour that
    scores nearly as well; nothing when the best is below the floor."""
    if not len(scores):
        return []
    best = int(np.argmax(scores))
    if scores[best] < weights.floor:
        return []
    chosen = [best]
    near = [j for j in (best + 1, best - 1) if 0 <= j < len(scores)]
    if near:
        j = max(near, key=lambda j: scores[j])
        if scores[j] >= scores[best] - weights.second_within:
            chosen.append(j)
    return chosen


def candidates(lexical: np.ndarray, weights: SpanWeights = DEFAULT_WEIGHTS) -> list[int]:
    """The units worth embedding: the best DENSE_CANDIDATES by their score without the
    dense features (in their order in the passage)."""
    scores = lexical @ weights.vector()
    return sorted(int(i) for i in np.argsort(-scores, kind="stable")[:DENSE_CANDIDATES])


_COVERAGE = FEATURES.index("coverage")


def pick(
    lexical: np.ndarray, full: np.ndarray, weights: SpanWeights = DEFAULT_WEIGHTS
) -> list[int]:
    """The answering units among the candidates, by their full score (see ``choose``);
    none when no candidate contains a single term of the question (all are weak)."""
    keep = candidates(lexical, weights)
    if not keep or not full[keep, _COVERAGE].any():
        return []  # no unit has any of the question's terms: nothing here answers
    scores = np.full(len(lexical), -np.inf)
    scores[keep] = (full @ weights.vector())[keep]
    return choose(scores, weights)


# ---------------------------------------------------------------------------- embedding

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class DenseView:
    """How to embed units for one dense channel: the question's vector, and a function
    embedding passages (Chinese rendered in English first for an English-only model)."""

    query: np.ndarray
    embed: Embed
    multilingual: bool


def similarities(
    views: Mapping[str, DenseView], texts: Sequence[str], lang: str
) -> np.ndarray | None:
    """Each text's cosine similarity to the question, from one channel per text: an
    English-only model (MiniLM) for an English text asked in English, a multilingual one
    (e5) for the rest, or whichever is loaded. None when no dense channel is loaded."""
    if not views or not texts:
        return None
    english = [v for v in views.values() if not v.multilingual]
    multilingual = [v for v in views.values() if v.multilingual]
    groups: dict[int, tuple[DenseView, list[int]]] = {}
    for i, text in enumerate(texts):
        plain = lang == "en" and not has_chinese(text)
        chosen = ((english if plain else multilingual) or multilingual or english)[0]
        groups.setdefault(id(chosen), (chosen, []))[1].append(i)
    out = np.zeros(len(texts), dtype=np.float64)
    for view, rows in groups.values():
        out[rows] = view.embed([texts[i][:MAX_UNIT_CHARS] for i in rows]) @ view.query
    return out


# ---------------------------------------------------------------------------- one question

SPAN_HITS = 3  # answer spans are found for this many of the best hits (the time budget)
DENSE_HITS = 1  # ... and the dense channels read the units of this many of them
_CACHE_SIZE = 4096


@dataclass
class SpanContext:
    """What scoring units against one question needs: its topic terms (glossary and
    dictionary forms included) and, per loaded dense channel, its vector."""

    question: str
    lang: str
    terms: list[Term]
    views: dict[str, DenseView]
    weights: SpanWeights = DEFAULT_WEIGHTS
    tokenize: Callable[[str], list[str]] = tokenize  # the index's tokenizer

    def units(self, text: str, dense: bool = True) -> list[Unit]:
        """The answering units of ``text``, best first (none when every unit is weak).

        The units are scored without the dense channels first; only the best
        DENSE_CANDIDATES of them are embedded and scored in full (the time budget)."""
        units = [u for u in split_units(text) if u.markable]
        lexical = unit_features(units, self.question, self.terms, None, self.tokenize)
        keep = candidates(lexical, self.weights)
        sims = similarities(self.views, [units[i].text for i in keep], self.lang) if dense else None
        if sims is None:
            full = lexical
        else:
            every = np.full(len(units), float(sims.min()))
            every[keep] = sims
            full = unit_features(units, self.question, self.terms, every, self.tokenize)
        return [units[i] for i in pick(lexical, full, self.weights)]

    def spans(self, text: str, dense: bool = True) -> list[tuple[int, int]]:
        """The answering units of ``text`` as (start, end) offsets, best first."""
        return [(u.start, u.end) for u in self.units(text, dense)]

    def features(self, text: str, dense: bool = True) -> tuple[list[Unit], np.ndarray, np.ndarray]:
        """The markable units of ``text``, their FEATURES rows without the dense channels,
        and with them (every unit embedded: for fitting and evaluation)."""
        units = [u for u in split_units(text) if u.markable]
        lexical = unit_features(units, self.question, self.terms, None, self.tokenize)
        sims = similarities(self.views, [u.text for u in units], self.lang) if dense else None
        full = (
            lexical
            if sims is None
            else unit_features(units, self.question, self.terms, sims, self.tokenize)
        )
        return units, lexical, full


class EmbeddingCache:
    """Unit vectors by (model, text), so a passage shown again is not embedded again."""

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self.size = size
        self._vectors: dict[tuple[str, str], np.ndarray] = {}

    def embed(self, model_id: str, embed: Embed, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if (model_id, t) not in self._vectors))
        if missing:
            if len(self._vectors) + len(missing) > self.size:
                self._vectors.clear()
            for t, v in zip(missing, embed(missing), strict=True):
                self._vectors[(model_id, t)] = v
        return np.vstack([self._vectors[(model_id, t)] for t in texts])

    def clear(self) -> None:
        self._vectors.clear()


# ---------------------------------------------------------------------------- gold sentences


def locate(sentence: str, text: str) -> tuple[int, int] | None:
    """Where a gold sentence is in ``text``: exactly, or with other spacing and emphasis
    marks (``**``, ``_``, backticks) between its characters."""
    sentence = sentence.strip()
    if not sentence:
        return None
    at = text.find(sentence)
    if at >= 0:
        return (at, at + len(sentence))
    chars = [c for c in sentence if not c.isspace() and c not in "*_`"]
    if not chars:
        return None
    pattern = r"[\s*_`]*".join(re.escape(c) for c in chars)
    m = re.search(pattern, text)
    return (m.start(), m.end()) if m else None


def overlaps(span: tuple[int, int], spans: Sequence[tuple[int, int]]) -> bool:
    return any(span[0] < b and a < span[1] for a, b in spans)


def inside(spans: Sequence[tuple[int, int]], gold: Sequence[tuple[int, int]]) -> float:
    """Share of the characters of ``spans`` that fall inside ``gold`` spans."""
    total = sum(b - a for a, b in spans)
    if not total:
        return 0.0
    covered = np.zeros(max(b for _, b in [*spans, *gold]) + 1, dtype=bool)
    for a, b in gold:
        covered[a:b] = True
    return sum(int(covered[a:b].sum()) for a, b in spans) / total
