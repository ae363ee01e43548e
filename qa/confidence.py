"""How sure we are that the best passage answers the question.

Retrieval always returns something; for a question the notes do not cover, that
something is noise. We estimate the probability that the top passage answers the
question from three signals, with a logistic model fitted on labelled answerable and
off-topic questions (``bench/fit_confidence.py``; figures in README.md):

- ``minilm_gap`` / ``e5_gap``: how far the best passage's cosine similarity stands above
  the question's similarity to the average passage (the channel's centroid). Off-topic
  questions are about equally similar to everything.
- ``coverage``: the share of the question's topic words (glossary terms in any language,
  other words) found in the best passage. A Chinese word outside the glossary that no
  note contains is left out (``informative_terms``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from qa.glossary import Expansion, match_form
from qa.text import has_chinese, tokenize

FEATURES = ("minilm_gap", "e5_gap", "coverage")


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

    def probability(self, features: Mapping[str, float], lang: str) -> float:
        bias = self.biases.get(lang, min(self.biases.values()))
        z = bias + sum(
            w * features.get(name, self.defaults[name]) for name, w in self.weights.items()
        )
        return 1.0 / (1.0 + math.exp(-z))


# Fitted by bench/fit_confidence.py on the dev halves of corpus/questions.jsonl and
# tests/corpus_mixed/questions.jsonl: one logistic model, then for each language the
# threshold that declines the most off-topic dev questions of that language while
# declining at most 4% of its answerable ones, folded into that language's bias.
DEFAULT_MODEL = ConfidenceModel(
    weights={"minilm_gap": 12.446, "e5_gap": 27.687, "coverage": 4.921},
    biases={"en": -7.252, "zh": -8.669},
    defaults={"minilm_gap": 0.438, "e5_gap": 0.069, "coverage": 0.869},
)

# One topic of a question: the forms it may take, each as the tokens that must all be
# present (a glossary concept: {("batch", "normal"), ("bn",), ("批归一化",)}).
Term = set[tuple[str, ...]]


def topic_terms(question: str, expansion: Expansion | None) -> list[Term]:
    """The question's topic words, each with the forms it may take in a passage.

    Glossary question words (为什么, how) are not topics; words outside the glossary
    count one by one.
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
            term = {_form_tokens(f) for f in forms} - {()}
            if term:
                terms.append(term)
    for token in tokenize(leftover):
        terms.append({(token,)})
    return terms


def _form_tokens(form: str) -> tuple[str, ...]:
    """A form's tokens, all of which a passage needs to contain the form."""
    tokens = [match_form(form)] if has_chinese(form) else tokenize(form)
    return tuple(dict.fromkeys(tokens))


def informative_terms(terms: list[Term], in_notes: Callable[[str], bool]) -> list[Term]:
    """The terms whose absence from a passage says something about the question.

    A Chinese word outside the glossary that no note contains is left out: notes in
    English say it in English words, so not finding it says nothing. An English word that
    no note contains still counts: it is a sign that the notes do not cover the question.
    """
    kept = []
    for term in terms:
        word = _plain_word(term)
        if word and has_chinese(word) and not in_notes(word):
            continue
        kept.append(term)
    return kept


def _plain_word(term: Term) -> str:
    """The token of a term that is one word with one form; "" for any other term."""
    if len(term) != 1:
        return ""
    (form,) = term
    return form[0] if len(form) == 1 else ""


def coverage(terms: list[Term], passage_tokens: Iterable[str]) -> float:
    """Share of topic terms with at least one form wholly in the passage."""
    if not terms:
        return 0.0
    have = set(passage_tokens)
    return sum(1 for t in terms if any(have.issuperset(f) for f in t)) / len(terms)
