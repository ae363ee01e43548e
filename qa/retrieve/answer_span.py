"""The sentences of a passage that answer the question, found without a language model.

A passage is cut into *units* (qa.lang.units.split_units: sentences in both languages,
list items, table rows, whole code blocks and math).

Each unit is scored against the question (``SpanContext``) by a linear score over 16
FEATURES: the share of the question's topic terms it contains (glossary and dictionary
forms included) and whether no unit has more, whether it says what the question's intent
asks for (a "why" question prefers "because / 因为 / 由于 / so that"), whether it comes
under a lead-in that matches ("**Cons:**" for 缺点) or names the opposite, whether it is
the first unit or a list item, whether it continues the unit before ("It / 这"), and
whether that unit is the one with the most question terms (the answer often comes right
after the sentence that names the topic: "Momentum is an enhancement to SGD. It
accumulates…"),
penalties for lead-ins, titles, questions, link-only and very short units, and its
similarity to the question in the dense channels (MiniLM for English, e5 for Chinese and
cross-lingual), in standard deviations above the passage's mean. The units' vectors are
embedded once at build time (qa.store.unit_vectors), so a question costs only dot
products; a unit with no stored vector gets the passage's lowest similarity. The best
unit is marked (with its neighbour when it scores within ``second_within``); nothing is
marked when no unit has a single term of the question.

The weights are data (qa/data/spans.json), written by ``bench/sentences.py --fit
--write``: a conditional logit fitted on the dev halves of the labelled sentence sets,
its L2 penalty chosen leave-one-corpus-out (qa.eval.span_fit).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.lang.text import has_chinese, tokenize
from qa.lang.units import MAX_UNIT_CHARS, Unit, split_units
from qa.retrieve.confidence import Term, has_term
from qa.retrieve.rerank import intents
from qa.settings import PACKAGE_ROOT

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
    "dense_z",  # similarity to the question, in standard deviations above the passage's mean
    "coverage",  # share of the question's topic terms the unit contains
    "most_terms",  # has as many of the question's terms as the best unit of the passage
    "intent",  # the unit says what the question's intent asks for (CUES)
    "first",  # the passage's first unit
    "short",  # under SHORT characters
    "lead_in",  # ends with a colon, or is a bold label alone: it announces what follows
    "title",  # a short line with no sentence end: a title in a list, not a statement
    "asks",  # a question itself ("is a larger n always better?")
    "links",  # mostly a link or an image
    "item",  # a list item
    "continues",  # opens with "It / This / So / 它 / 这 / 所以": the previous unit's coverage
    "follows_most",  # opens so, right after a unit with the passage's most question terms
    "label",  # comes under a lead-in ("**Cons:**") that says what the question asks
    "polar_label",  # under a lead-in that names what is asked ("Cons:" for 缺点)
    "other_label",  # under a lead-in that names the opposite ("Pros:" for 缺点)
)
_ANAPHOR = re.compile(
    r"^\W*(?:it|its|this|these|that|those|they|so|thus|hence|therefore|here|such)\b"
    r"|^\W*(?:它|这|其|所以|因此|因而|于是|故|该)",
    re.IGNORECASE,
)
SHORT = 20

_ENDS_SENTENCE = re.compile(r"[.!?。！？；;:：)）]\W*$")


def _is_title(text: str) -> bool:
    """A short line that ends no sentence ("Try Different Algorithms", "Order of
    placement of Batch Norm layer"): it names what follows."""
    plain = text.strip("*_ ")
    short = len(plain.split()) <= 8 if not has_chinese(plain) else len(plain) <= 16
    return short and "\n" not in plain and not _ENDS_SENTENCE.search(plain)


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

    def to_json(self, fitted: Mapping[str, object] | None = None) -> dict[str, object]:
        """The file ``bench/sentences.py --fit --write`` writes; ``fitted``: how (kept
        for the reader, not read back)."""
        data: dict[str, object] = {
            "format": "qa-spans",
            "version": 1,
            "features": {name: self.weights.get(name, 0.0) for name in FEATURES},
            "floor": self.floor,
            "second_within": self.second_within,
        }
        if fitted:
            data["fitted"] = dict(fitted)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> SpanWeights:
        """ValueError when ``data`` is not a span-weights file for these FEATURES."""
        if data.get("format") != "qa-spans" or data.get("version") != 1:
            raise ValueError("not a qa span-weights file (format qa-spans, version 1)")
        raw = data.get("features")
        if not isinstance(raw, dict) or set(raw) != set(FEATURES):
            raise ValueError(
                f"a span-weights file needs a weight for each of: {', '.join(FEATURES)}"
            )
        weights = {}
        for name in FEATURES:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"the weight of {name} is not a number")
            weights[name] = float(value)
        floor, within = data.get("floor"), data.get("second_within")
        if not isinstance(floor, int | float) or not isinstance(within, int | float):
            raise ValueError("a span-weights file needs numbers for floor and second_within")
        return cls(weights, float(floor), float(within))


WEIGHTS_FILE = PACKAGE_ROOT / "data" / "spans.json"


@lru_cache(maxsize=4)
def load_span_weights(path: Path = WEIGHTS_FILE) -> SpanWeights:
    return SpanWeights.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


# Fitted on the dev halves of the labelled sentence sets (bench/sentences.py --fit --write).
DEFAULT_WEIGHTS = load_span_weights()


def unit_features(
    units: Sequence[Unit],
    question: str,
    terms: Sequence[Term],
    similarity: np.ndarray | None,
    tokenize: Callable[[str], list[str]] = tokenize,
) -> np.ndarray:
    """One row of FEATURES per unit. ``similarity``: each unit's cosine similarity to the
    question (None when no dense channel is loaded: the dense feature is 0);
    ``tokenize``: the index's (``BilingualTokenizer.tokenize``)."""
    asked = intents(question)
    polarity = {name for name, p in _POLARITY.items() if p.search(question)}
    if similarity is not None and len(similarity):
        mean, spread = float(np.mean(similarity)), float(np.std(similarity))
    unit_tokens = [set(tokenize(u.text)) for u in units]
    found = [sum(1 for t in terms if has_term(tokens, t)) for tokens in unit_tokens]
    most = max(found, default=0)
    rows = []
    label_matches = False  # the latest lead-in says what the question asks
    polar = other = False  # ... and names the asked polarity, or the opposite one
    for n, unit in enumerate(units):
        have = found[n]
        linked = sum(len(m.group(0)) for m in _LINKS.finditer(unit.text))
        anaphor = bool(_ANAPHOR.search(unit.text))
        lead_in = bool(
            unit.text.rstrip("*_ ").endswith((":", "：")) or _BOLD_LABEL.match(unit.text)
        )
        row = {
            "dense_z": (
                (float(similarity[n]) - mean) / spread
                if similarity is not None and spread > 0
                else 0.0
            ),
            "coverage": have / len(terms) if terms else 0.0,
            "most_terms": float(most > 0 and have == most),
            "intent": intent_cue(asked, unit.text),
            "first": float(n == 0),
            "short": float(len(unit.text) < SHORT),
            "lead_in": float(lead_in),
            "title": float(_is_title(unit.text)),
            "asks": float(unit.text.rstrip("*_ ").endswith(("?", "？"))),
            "links": float(linked > 0.6 * len(unit.text)),
            "item": float(unit.kind == "item"),
            "continues": (found[n - 1] / len(terms) if n and terms and anaphor else 0.0),
            "follows_most": float(bool(n and most and found[n - 1] == most and anaphor)),
            "label": float(label_matches and not lead_in),
            "polar_label": float(polar and not lead_in),
            "other_label": float(other and not lead_in),
        }
        rows.append([row[name] for name in FEATURES])
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


def pick(
    features: np.ndarray, weights: SpanWeights = DEFAULT_WEIGHTS, on_topic: bool = False
) -> list[int]:
    """The answering units by their score (see ``choose``); none when no unit contains
    a single term of the question (all are weak), unless the passage is ``on_topic``
    (its heading names what is asked: its units need not repeat it)."""
    if not len(features) or not (on_topic or features[:, _COVERAGE].any()):
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

    def units(self, text: str, dense: bool = True, heading: str = "") -> list[Unit]:
        """The answering units of ``text``, best first (none when every unit is weak and
        ``heading``, the passage's, has none of the question's terms)."""
        units, _, full = self.features(text, dense)
        return [units[i] for i in pick(full, self.weights, self.names_topic(heading))]

    def spans(self, text: str, dense: bool = True, heading: str = "") -> list[tuple[int, int]]:
        """The answering units of ``text`` as (start, end) offsets, best first."""
        return [(u.start, u.end) for u in self.units(text, dense, heading)]

    def names_topic(self, heading: str) -> bool:
        """Whether a heading has one of the question's topic terms."""
        if not heading.strip() or not self.terms:
            return False
        tokens = set(self.tokenize(heading))
        return any(has_term(tokens, term) for term in self.terms)

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
