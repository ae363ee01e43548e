"""How sure we are that the best passage answers the question.

Retrieval always returns something; for a question the notes do not cover, that
something is noise. We estimate the probability that the top passage answers the
question from these signals, with a logistic model fitted on labelled answerable and
off-topic questions (``bench/fit_confidence.py``; figures in README.md):

- ``minilm_gap`` / ``e5_gap``: how far the best passage's cosine similarity stands above
  the question's similarity to the average passage (the channel's centroid). Off-topic
  questions are about equally similar to everything.
- ``coverage``: the share of the question's topic words (glossary terms in any language,
  other words) found in the best passage. A Chinese word outside the glossary that no
  note contains is left out when the notes are mostly not Chinese (``informative_terms``).
- ``absent``: the share of those words that no note contains at all.
- ``absent_named``: 1 when the question names something no note mentions: a glossary
  concept none of whose forms any note contains, or a word that is not everyday English
  (``named_terms``). Notes on gradient boosting that never say LightGBM do not answer
  "why is LightGBM faster than XGBoost", however close their field; the plain words of a
  question ("barely", "bother") say nothing of the kind. Unless the name only qualifies
  something else the question names that heads the best passage (``absent_subject``):
  "how does dropout work in pytorch" is answered by the Dropout section of notes that
  never say PyTorch. Two concepts compared need both: notes on batch norm that never
  say layer norm do not answer "BN vs LN". A concept counts as mentioned by a form that
  says so: "ln" in a formula is no layer norm (``distinctive_forms``).
- ``asked_first``: 1 when a heading of the notes asks the question with nothing (or
  only a placeholder, a link) under it, and ranks above every answer: the place where
  the notes would answer is still empty.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qa.lang.everyday import is_everyday_english
from qa.lang.glossary import Expansion, match_form
from qa.settings import PACKAGE_ROOT

if TYPE_CHECKING:
    from qa.retrieve.search import Answer
from qa.lang.text import has_chinese, tokenize

Tokenize = Callable[[str], list[str]]
FEATURES = ("minilm_gap", "e5_gap", "coverage", "absent", "absent_named", "asked_first")


@dataclass(frozen=True)
class ConfidenceModel:
    """p(answered) = sigmoid(bias[lang] + sum(weight * feature)); decline below 0.5.

    Each question language has its own bias: the same evidence is weaker for a Chinese
    question over English notes than for an English one. The biases put each language's
    decline threshold at 0.5, so confidences read the same way in both languages.
    """

    weights: Mapping[str, float]
    biases: Mapping[str, float]  # by question language: "en", "zh"
    defaults: Mapping[str, float]  # used for a feature whose channel is switched off
    threshold: float = 0.5

    def to_json(self) -> dict[str, object]:
        return {
            "format": "qa-confidence",
            "version": 1,
            "features": list(FEATURES),
            "weights": dict(self.weights),
            "biases": dict(self.biases),
            "defaults": dict(self.defaults),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ConfidenceModel:
        if data.get("format") != "qa-confidence" or data.get("version") != 1:
            raise ValueError("not a qa confidence model (format qa-confidence, version 1)")
        tables = {}
        for key in ("weights", "biases", "defaults"):
            table = data.get(key)
            if not isinstance(table, dict) or not all(
                isinstance(v, int | float) and math.isfinite(v) for v in table.values()
            ):
                raise ValueError(f"a confidence model's {key!r} must be a table of numbers")
            tables[key] = {str(k): float(v) for k, v in table.items()}
        if set(tables["weights"]) != set(FEATURES) or set(tables["defaults"]) != set(FEATURES):
            raise ValueError(f"a confidence model needs weights and defaults for {FEATURES}")
        return cls(tables["weights"], tables["biases"], tables["defaults"])

    def probability(self, features: Mapping[str, float], lang: str) -> float:
        bias = self.biases.get(lang, min(self.biases.values()))
        z = bias + sum(
            w * features.get(name, self.defaults[name]) for name, w in self.weights.items()
        )
        return 1.0 / (1.0 + math.exp(-z))


# Fitted by bench/fit_confidence.py on the dev halves of every labelled corpus (each corpus
# weighing the same): one logistic model, then for each language the threshold that
# declines the most off-topic dev questions of that language while declining at most 4%
# of its answerable ones, folded into that language's bias.
MODEL_FILE = PACKAGE_ROOT / "data" / "confidence.json"


def load_model(path: Path = MODEL_FILE) -> ConfidenceModel:
    return ConfidenceModel.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


DEFAULT_MODEL = load_model()


@dataclass(frozen=True)
class Cue:
    """A short verdict on how well the best passage answers, with a style class."""

    label: str
    kind: str  # "strong", "likely", "weak", "none": CSS class suffixes

    def text(self, confidence: float) -> str:
        # Never "100%": retrieval is an estimate.
        return f"{self.label} · {min(99, round(confidence * 100))}%"


def confidence_cue(answer: Answer) -> Cue:
    """Strong above 0.85, likely above 0.65, weak below; "no clear answer" when declined."""
    if answer.declined or not answer.hits:
        return Cue("no clear answer", "none")
    if answer.confidence >= 0.85:
        return Cue("strong match", "strong")
    if answer.confidence >= 0.65:
        return Cue("likely", "likely")
    return Cue("weak match", "weak")


# One topic of a question: the forms it may take, each as the tokens that must all be
# present (a glossary concept: {("batch", "normal"), ("bn",), ("批归一化",)}).
Term = set[tuple[str, ...]]


def topic_terms(
    question: str, expansion: Expansion | None, tokenize: Tokenize = tokenize
) -> list[Term]:
    """The question's topic words, each with the forms it may take in a passage.

    Glossary question words (为什么, how) are not topics; words outside the glossary
    count one by one. ``tokenize``: the index's (``BilingualTokenizer.tokenize``).
    """
    terms: list[Term] = []
    text = match_form(question)
    leftover = text
    if expansion is not None:
        for m in expansion.matches:
            leftover = leftover.replace(m.text, " ", 1)
            if all(c.kind == "question" for c in m.concepts):
                continue
            forms = {f for c in m.concepts for f in c.forms}
            term = {_form_tokens(f, tokenize) for f in forms} - {()}
            if term:
                terms.append(term)
    for token in tokenize(leftover):
        terms.append({(token,)})
    return terms


def _form_tokens(form: str, tokenize: Tokenize) -> tuple[str, ...]:
    """A form's tokens, all of which a passage needs to contain the form."""
    tokens = [match_form(form)] if has_chinese(form) else tokenize(form)
    return tuple(dict.fromkeys(tokens))


def informative_terms(
    terms: list[Term], in_notes: Callable[[str], bool], chinese_notes: bool = False
) -> list[Term]:
    """The terms whose absence from a passage says something about the question.

    A Chinese word outside the glossary that no note contains is left out: notes in
    English say it in English words, so not finding it says nothing. An English word that
    no note contains still counts: it is a sign that the notes do not cover the question.
    So does a Chinese word when the notes are mostly Chinese (``chinese_notes``): notes
    written in Chinese that never say 护照 are not about passports.
    """
    kept = []
    for term in terms:
        word = _plain_word(term)
        if word and has_chinese(word) and not in_notes(word) and not chinese_notes:
            continue
        kept.append(term)
    return kept


def with_translations(kept: list[Term], own: list[Term], bridged: list[Term]) -> list[Term]:
    """The terms ``kept`` of the question's ``own`` (``informative_terms``), each with the
    other forms ``bridged`` gives it (``Searcher._bridge``: its translations the notes
    contain, in the same order as ``own``). Over Chinese notes an English question's
    "stable" is also 稳定: the notes say it, in their language. Chosen on the dev halves
    (bench/fit_confidence.py, leave-one-corpus-out) over the question's own forms alone:
    interview-notes-zh false declines 0.09 -> 0.03, off-topic declined up on four corpora
    (bench/results/session10-decline-variants-dev.txt)."""
    forms = {id(t): b for t, b in zip(own, bridged, strict=True)}
    return [forms.get(id(t), t) for t in kept]


def named_terms(terms: list[Term], question: str, tokenize: Tokenize = tokenize) -> list[Term]:
    """The terms of ``question`` that name something: a glossary concept (a term with
    several forms), or a word in Latin letters that is not an everyday English word
    (qa.lang.everyday), judged as the question writes it ("flashattention", not its
    pieces). A Chinese word outside the glossary never is: jieba cuts everyday phrases
    (往下掉, 降下来) into words no dictionary lists."""
    words = re.findall(r"[a-z][a-z0-9']*", match_form(question))
    written: dict[str, str] = {}
    for word in words:
        for token in tokenize(word):
            written.setdefault(token, word)

    def as_written(token: str) -> str:
        # A token cut from inside a word (the glossary finds "attention" in
        # "flashattention", leaving "flash") is judged as that word.
        return written.get(token) or next((w for w in words if token in w), token)

    named = []
    for term in terms:
        word = _plain_word(term)
        if len(term) > 1 or (
            word and not has_chinese(word) and not is_everyday_english(as_written(word))
        ):
            named.append(term)
    return named


def absent_subject(
    named: list[Term], in_notes: Callable[[Term], bool], in_heading: Callable[[Term], bool]
) -> bool:
    """Whether something ``named`` (``named_terms``) that no note mentions is what the
    question is about, rather than a tool it is asked in.

    A name no note mentions counts unless another name of the question, one the notes do
    mention, heads the best passage: "how does dropout work in pytorch" and the Dropout
    section, "用CatBoost做模型融合时 stacking 怎么划分训练集" and the Stacking one. "How does
    LightGBM grow its trees" names nothing else; in "why is LightGBM faster than XGBoost"
    or "DropConnect 怎么把神经元的输出置为 0" the other name (XGBoost, 神经元) heads no
    section the question finds, or is only in the passage's text. Chosen on the dev halves
    (bench/fit_confidence.py) over counting every absent name, over a passage that only
    mentions the other name, and over a looser rule for names outside the glossary.
    """
    if all(in_notes(t) for t in named):
        return False
    return not any(in_heading(t) for t in named if in_notes(t))


def _plain_word(term: Term) -> str:
    """The token of a term that is one word with one form; "" for any other term."""
    if len(term) != 1:
        return ""
    (form,) = term
    return form[0] if len(form) == 1 else ""


def distinctive_forms(term: Term, asked: Iterable[str] = ()) -> Term:
    """The forms of ``term`` whose presence in the notes says they mention it. A one- or
    two-letter abbreviation also spells other things (LN is layer normalization, and ln
    x a logarithm), so it counts only when the question wrote it (``asked``: the
    question's tokens) or the term has no other form."""
    asked = set(asked)
    longer = {
        f
        for f in term
        if not (len(f) == 1 and len(f[0]) <= 2 and f[0].isascii() and f[0] not in asked)
    }
    return longer or term


def has_term(tokens: set[str], term: Term) -> bool:
    """Whether some form of ``term`` is wholly in ``tokens``."""
    return any(tokens.issuperset(form) for form in term)


def coverage(terms: list[Term], passage_tokens: Iterable[str]) -> float:
    """Share of topic terms with at least one form wholly in the passage."""
    if not terms:
        return 0.0
    have = set(passage_tokens)
    return sum(1 for t in terms if has_term(have, t)) / len(terms)
