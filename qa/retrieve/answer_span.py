"""The sentences of a passage that answer the question, found without a language model.

A passage is cut into *units* (qa.lang.units.split_units: sentences in both languages,
list items, table rows, whole code blocks and math).

Each unit is scored against the question (``SpanContext``) by a linear score over
FEATURES: the share of the question's topic terms it contains (glossary and dictionary
forms included) and of its Chinese character bigrams, whether it says what the
question's intent asks for (a "why" question prefers "because / 因为 / 由于 / so that";
a "difference" question a unit with both terms), whether it comes under a lead-in that
matches ("**Cons:**" for 缺点), its place in the passage, whether it is a list item,
penalties for lead-ins, questions, link-only and very short units, and its similarity
to the question in the dense channels (MiniLM for English, e5 for Chinese and
cross-lingual). The units' vectors are embedded once at build time (qa.store.unit_vectors),
so a question costs only dot products; a unit with no stored vector is scored without
the dense features. The best unit is marked (with its neighbour when it scores within
``second_within``); nothing is marked when no unit has a single term of the question.
The weights are fitted on the dev halves of the labelled sentence sets
(``bench/sentences.py --fit``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from qa.lang.text import has_chinese, tokenize
from qa.lang.units import MAX_UNIT_CHARS, Unit, split_units
from qa.retrieve.confidence import Term
from qa.retrieve.rerank import intents

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
        # Not a bare "are" / 是: nearly every sentence has one.
        r"\bis an?\b|\bis the\b|\bare (?:an?|the)\b|\brefers? to\b|\bmeans?\b"
        r"|\bdefined as\b|\bis when\b|\bis used\b|\bdescribes?\b|\bcalled\b",
        r"是指|指的是|称为|叫做|定义|表示|即|就是|是一种|是一个|是一类",
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
    "bigrams",  # share of the question's Chinese character bigrams the unit contains
    "position",  # where in the passage: 0 for the first unit, 1 for the last
    "item",  # a list item
    "title",  # a short line with no sentence end: a title in a list, not a statement
    "dense_z",  # the similarity in standard deviations above the passage's mean
    "most_terms",  # has as many of the question's terms as the best unit of the passage
    "polar_label",  # under a lead-in that names what is asked ("Cons:" for 缺点)
    "other_label",  # under a lead-in that names the opposite ("Pros:" for 缺点)
    "continues",  # opens with "It / This / So / 它 / 这 / 所以": the previous unit's coverage
)
_ANAPHOR = re.compile(
    r"^\W*(?:it|its|this|these|that|those|they|so|thus|hence|therefore|here|such)\b"
    r"|^\W*(?:它|这|其|所以|因此|因而|于是|故|该)",
    re.IGNORECASE,
)
SHORT = 20
# Words of a Chinese question that ask rather than say what it is about.
_ASKING = re.compile(
    r"为什么|为何|是什么|什么是|什么|怎么样|怎么|怎样|如何|哪些|哪个|区别|不同|差异|有何|"
    r"有哪些|是否|能否|吗|呢|请|简述|介绍|一下|的|了|和|与|及"
)
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")


_ENDS_SENTENCE = re.compile(r"[.!?。！？；;:：)）]\W*$")


def _is_title(text: str) -> bool:
    """A short line that ends no sentence ("Try Different Algorithms", "Order of
    placement of Batch Norm layer"): it names what follows."""
    plain = text.strip("*_ ")
    short = len(plain.split()) <= 8 if not has_chinese(plain) else len(plain) <= 16
    return short and "\n" not in plain and not _ENDS_SENTENCE.search(plain)


def question_bigrams(question: str) -> frozenset[str]:
    """The Chinese character bigrams of what a question is about (its asking words out)."""
    out: set[str] = set()
    for run in _HAN_RUN.findall(_ASKING.sub(" ", question)):
        out.update(run[i : i + 2] for i in range(len(run) - 1))
    return frozenset(out)


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
        "dense": 0.049,
        "dense_rank": 0.112,
        "coverage": 0.205,
        "intent": 0.951,
        "both_terms": -0.067,
        "first": -0.404,
        "first_what": -0.178,
        "short": -0.265,
        "block": 0.0,
        "lead_in": -0.864,
        "asks": -0.291,
        "links": -0.598,
        "label": 0.419,
        "bigrams": -0.118,
        "position": -0.135,
        "item": 0.3,
        "title": -0.541,
        "dense_z": 0.774,
        "most_terms": 0.222,
        "polar_label": 0.292,
        "other_label": -0.117,
        "continues": 0.678,
    },
    floor=-9.0,
    second_within=0.3,
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
    bigrams = question_bigrams(question)
    last = max(1, len(units) - 1)
    polarity = {name for name, p in _POLARITY.items() if p.search(question)}
    if similarity is not None and len(similarity):
        low, high = float(np.min(similarity)), float(np.max(similarity))
        mean, spread = float(np.mean(similarity)), float(np.std(similarity))
    found = [
        sum(1 for t in terms if any(set(tokenize(u.text)).issuperset(f) for f in t)) for u in units
    ]
    most = max(found, default=0)
    rows = []
    label_matches = False  # the latest lead-in says what the question asks
    polar = other = False  # ... and names the asked polarity, or the opposite one
    for n, unit in enumerate(units):
        have = found[n]
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
                sum(1 for b in bigrams if b in unit.text) / len(bigrams) if bigrams else 0.0,
                n / last,
                float(unit.kind == "item"),
                float(_is_title(unit.text)),
                (sim - mean) / spread if similarity is not None and spread > 0 else 0.0,
                float(most > 0 and have == most),
                float(polar and not lead_in),
                float(other and not lead_in),
                (found[n - 1] / len(terms) if n and terms and _ANAPHOR.search(unit.text) else 0.0),
            ]
        )
        if lead_in:
            said = {name for name, p in _POLARITY.items() if p.search(unit.text)}
            label_matches = bool(polarity & said) if said else have > 0
            polar, other = bool(polarity & said), bool(polarity and said - polarity)
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


_COVERAGE = FEATURES.index("coverage")


def pick(features: np.ndarray, weights: SpanWeights = DEFAULT_WEIGHTS) -> list[int]:
    """The answering units by their score (see ``choose``); none when no unit contains
    a single term of the question (all are weak)."""
    if not len(features) or not features[:, _COVERAGE].any():
        return []  # no unit has any of the question's terms: nothing here answers
    return choose(features @ weights.vector(), weights)


# ---------------------------------------------------------------------------- embedding

Vectors = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class DenseView:
    """One dense channel as the spans see it: the question's vector, and a function
    giving the stored vectors of units (a NaN row for a unit it has none for)."""

    query: np.ndarray
    vectors: Vectors
    multilingual: bool


def similarities(
    views: Mapping[str, DenseView], texts: Sequence[str], lang: str
) -> np.ndarray | None:
    """Each text's cosine similarity to the question, from one channel per text: an
    English-only model (MiniLM) for an English text asked in English, a multilingual one
    (e5) for the rest, or whichever has the text's vector. NaN for a text no channel has
    a vector for; None when none has any."""
    if not views or not texts:
        return None
    english = [v for v in views.values() if not v.multilingual]
    multilingual = [v for v in views.values() if v.multilingual]
    clipped = [t[:MAX_UNIT_CHARS] for t in texts]
    found = {id(v): v.vectors(clipped) @ v.query for v in views.values()}
    out = np.full(len(texts), np.nan, dtype=np.float64)
    for i, text in enumerate(texts):
        plain = lang == "en" and not has_chinese(text)
        for view in (english + multilingual) if plain else (multilingual + english):
            value = found[id(view)][i]
            if not np.isnan(value):
                out[i] = value
                break
    return None if np.isnan(out).all() else out


# ---------------------------------------------------------------------------- one question

SPAN_HITS = 3  # answer spans are found for this many of the best hits (the time budget)


@dataclass
class SpanContext:
    """What scoring units against one question needs: its topic terms (glossary and
    dictionary forms included) and, per dense channel with stored unit vectors, the
    question's vector."""

    question: str
    lang: str
    terms: list[Term]
    views: dict[str, DenseView]
    weights: SpanWeights = DEFAULT_WEIGHTS
    tokenize: Callable[[str], list[str]] = tokenize  # the index's tokenizer

    def units(self, text: str, dense: bool = True) -> list[Unit]:
        """The answering units of ``text``, best first (none when every unit is weak)."""
        units, _, full = self.features(text, dense)
        return [units[i] for i in pick(full, self.weights)]

    def spans(self, text: str, dense: bool = True) -> list[tuple[int, int]]:
        """The answering units of ``text`` as (start, end) offsets, best first."""
        return [(u.start, u.end) for u in self.units(text, dense)]

    def features(self, text: str, dense: bool = True) -> tuple[list[Unit], np.ndarray, np.ndarray]:
        """The markable units of ``text``, their FEATURES rows without the dense channels,
        and with them (a unit with no stored vector gets the passage's lowest similarity)."""
        units = [u for u in split_units(text) if u.markable]
        lexical = unit_features(units, self.question, self.terms, None, self.tokenize)
        sims = similarities(self.views, [u.text for u in units], self.lang) if dense else None
        if sims is None:
            return units, lexical, lexical
        sims = np.where(np.isnan(sims), np.nanmin(sims), sims)
        return units, lexical, unit_features(units, self.question, self.terms, sims, self.tokenize)


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
