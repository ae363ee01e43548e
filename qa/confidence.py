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
    weights={"minilm_gap": 15.205, "e5_gap": 35.349, "coverage": 1.478},
    bias=-6.101,
    threshold=0.525,
    defaults={"minilm_gap": 0.441, "e5_gap": 0.068, "coverage": 0.78},
)


def topic_terms(question: str, expansion: Expansion | None) -> list[set[str]]:
    """The question's topic words, each as the set of tokens any of its forms gives.

    Glossary question words (为什么, how) are not topics; words outside the glossary
    count one by one.
    """
    terms: list[set[str]] = []
    text = match_form(question)
    leftover = text
    if expansion is not None:
        for m in expansion.matches:
            leftover = leftover.replace(m.text, " ", 1)
            if all(c.kind == "question" for c in m.concepts):
                continue
            forms = {f for c in m.concepts for f in c.forms}
            terms.append({t for f in forms for t in _form_tokens(f)})
    for token in tokenize(leftover):
        terms.append({token})
    return terms


def _form_tokens(form: str) -> list[str]:
    return [match_form(form)] if has_chinese(form) else tokenize(form)


def coverage(terms: list[set[str]], passage_tokens: Iterable[str]) -> float:
    """Share of topic terms with at least one form in the passage."""
    if not terms:
        return 0.0
    have = set(passage_tokens)
    return sum(1 for t in terms if t & have) / len(terms)
