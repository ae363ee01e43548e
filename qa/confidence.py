"""How sure we are that the best passage answers the question.

Retrieval always returns something; for a question the notes do not cover, that
something is noise. We estimate the probability that the top passage answers the
question from three signals, with a logistic model fitted on labelled answerable and
off-topic questions (``bench/fit_confidence.py``; figures in README.md):

- ``minilm_gap`` / ``e5_gap``: how far the best passage's cosine similarity stands above
  the question's similarity to the average passage (the channel's centroid). Off-topic
  questions are about equally similar to everything.
- ``coverage``: the share of the question's topic words (glossary terms in any language,
  other words) found in the best passage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from qa.glossary import Expansion, match_form
from qa.text import has_chinese, tokenize

FEATURES = ("minilm_gap", "e5_gap", "coverage")


@dataclass(frozen=True)
class ConfidenceModel:
    """p(answered) = sigmoid(bias + sum(weight * feature)); decline below ``threshold``."""

    weights: Mapping[str, float]
    bias: float
    threshold: float
    defaults: Mapping[str, float]  # used for a feature whose channel is switched off

    def probability(self, features: Mapping[str, float]) -> float:
        z = self.bias + sum(
            w * features.get(name, self.defaults[name]) for name, w in self.weights.items()
        )
        return 1.0 / (1.0 + math.exp(-z))


# Fitted by bench/fit_confidence.py on the dev halves of corpus/questions.jsonl and
# tests/corpus_mixed/questions.jsonl; the threshold declines at most 4% of answerable
# dev questions.
DEFAULT_MODEL = ConfidenceModel(
    weights={"minilm_gap": 13.684, "e5_gap": 25.841, "coverage": 3.915},
    bias=-6.175,
    threshold=0.555,
    defaults={"minilm_gap": 0.442, "e5_gap": 0.068, "coverage": 0.771},
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


def coverage(terms: list[Term], passage_tokens: Iterable[str]) -> float:
    """Share of topic terms with at least one form wholly in the passage."""
    if not terms:
        return 0.0
    have = set(passage_tokens)
    return sum(1 for t in terms if any(have.issuperset(f) for f in t)) / len(terms)
