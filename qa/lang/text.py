"""Language detection and tokens that work for English and Chinese alike.

English words are lower-cased and stemmed (Snowball); Chinese runs are segmented into
words with jieba, which is loaded only when a text actually contains Chinese.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# The one definition of a Chinese character in qa: CJK Unified Ideographs, Extension A
# and the compatibility ideographs (the character class body, for building patterns).
HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_CHAR = re.compile(f"[{HAN}]")
HAN_RUN = re.compile(f"[{HAN}]+")
_RUNS = re.compile(f"([{HAN}]+)|([a-z0-9]+(?:[+#]+)?)")
_LATIN_WORD = re.compile(r"[A-Za-z]+")

ENGLISH_STOPWORDS = frozenset(
    """a an and are as at be been being but by can could did do does doing for from had has
    have having how i if in into is it its itself me my of on or our so some such than that
    the their them then there these they this those to too very was we were what when where
    which while who whom why will with would you your yours about above after again against
    all am any because before below between both down during each few further here just more
    most no nor not now off once only other out over own same should under until up s t
    don doesn didn isn aren wasn weren any also used use using one get like""".split()
)

# Function words and question particles; content words such as 区别 or 为什么 are kept,
# because they help match headings like "X vs Y" through the glossary.
CHINESE_STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 或 吗 呢 吧 啊 呀 么 嘛 就 都 也 还 又 很 把 被 让 给 对 从 到 向
    以 之 其 这 那 这个 那个 这些 那些 一个 一下 一些 有 有的 没有 我 你 他 她 它 我们 你们 他们
    时 时候 会 能 能够 可以 要 需要 应该 请 问 问题 说 说说 讲 讲讲 下 一 中 上 里 等 等等
    什么 怎么样 吗？ 呢？ 哪些 哪个 如何 怎么 怎样 为何""".split()
)


def has_chinese(text: str) -> bool:
    return HAN_CHAR.search(text) is not None


def detect_language(text: str) -> str:
    """``"zh"`` when a text is mostly Chinese (English terms inside allowed), else ``"en"``."""
    han = len(HAN_CHAR.findall(text))
    if han == 0:
        return "en"
    latin_words = len(_LATIN_WORD.findall(text))
    return "zh" if han >= 2 and han >= latin_words else "en"


def normalise(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII), lower case, and Traditional
    Chinese folded to Simplified, so 過擬合 matches 过拟合 (the text is shown as written)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _simplified(text) if has_chinese(text) else text


def _simplified(text: str) -> str:
    global _t2s
    if _t2s is None:
        import opencc

        _t2s = opencc.OpenCC("t2s")
    return str(_t2s.convert(text))


_t2s: Any = None


class BilingualTokenizer:
    """Tokens for BM25 and the question's words, in English and Chinese alike.

    English words are lower-cased and stemmed (Snowball); Chinese runs are cut into words
    by this tokenizer's own ``jieba.Tokenizer``, taught the ``words`` it was made with (the
    glossary's Chinese terms, so that they stay one token) and nothing else: two
    tokenizers in one process never share taught words. jieba is loaded only when a text
    actually contains Chinese. ``fingerprint`` changes whenever the tokens can (another
    tokenizer version, other library versions, other taught words); the index records
    it and a searcher checks it on load.
    """

    def __init__(self, words: Iterable[str] = ()) -> None:
        self.words: frozenset[str] = frozenset(_teachable(words))
        self.fingerprint = segmenter_fingerprint(self.words)
        self._jieba: Any = None
        self._lock = threading.Lock()
        self._cuts: dict[str, list[str]] = {}  # a short Han run -> its words
        self._short: dict[str, list[str]] = {}  # a short text -> its tokens

    def tokenize(self, text: str) -> list[str]:
        """Tokens for BM25: stemmed English words and segmented Chinese words (with their
        sub-words, as jieba's search mode cuts them), no stopwords."""
        short = len(text) <= _CACHED_CHARS
        if short and text in self._short:
            return list(self._short[text])
        tokens = self.analyse(text).tokens
        if short:
            if len(self._short) >= _CACHE_ENTRIES:
                self._short.clear()
            self._short[text] = tokens
        return list(tokens)

    def analyse(self, text: str) -> Analysis:
        """``text``'s BM25 tokens and its Chinese words as written, from one cut."""
        folded = unicodedata.normalize("NFKC", text).lower()
        normal = _simplified(folded) if has_chinese(folded) else folded
        # Traditional characters fold one to one; the words keep the user's characters.
        written = folded if len(folded) == len(normal) else normal
        stem = _stemmer().stemWord
        tokens: list[str] = []
        words: list[str] = []
        for match in _RUNS.finditer(normal):
            han, word = match.groups()
            if han:
                cut = self._cut(han)
                at = match.start()
                for piece in cut:
                    words.append(written[at : at + len(piece)])
                    at += len(piece)
                tokens.extend(t for t in self._for_search(cut) if t not in CHINESE_STOPWORDS)
            elif word not in ENGLISH_STOPWORDS:
                tokens.append(stem(word))
        return Analysis(tokens, [w for w in words if w.strip()])

    def segment(self, han: str) -> list[str]:
        """Chinese text cut into words (no overlapping sub-words)."""
        return [t for t in self._engine().lcut(han) if t.strip()]

    def warm_up(self) -> None:
        """Load the Chinese segmenter now (about a second), not on the first Chinese text."""
        self._engine()

    def _cut(self, han: str) -> list[str]:
        """One run of Chinese characters cut into words (jieba's precise mode)."""
        if len(han) == 1:
            return [han]
        cut = self._cuts.get(han)
        if cut is None:
            cut = [t for t in self._engine().lcut(han) if t.strip()]
            if len(han) <= _CACHED_CHARS:
                if len(self._cuts) >= _CACHE_ENTRIES:
                    self._cuts.clear()
                self._cuts[han] = cut
                self._cuts.update(self._pieces(han, cut))
        return cut

    def _pieces(self, han: str, cut: list[str]) -> dict[str, list[str]]:
        """The cuts of the pieces of ``han`` left when taught words are taken out of it
        (what a question leaves once its glossary terms are matched: qa.retrieve.confidence's
        topic terms), read off ``cut`` instead of cutting them again.

        jieba's cut is the best path through a word graph, computed from the end of the
        text back, and single characters are only regrouped between words of two or
        more; so the path through a word of two or more characters splits there into
        the best path of the text before it and the best path of the text after it,
        which is what cutting either alone gives."""
        if "".join(cut) != han:
            return {}
        starts, ends = [(0, 0)], []  # (offset, position in cut)
        at = 0
        for i, word in enumerate(cut):
            if word in self.words:
                ends.append((at, i))
                starts.append((at + len(word), i + 1))
            at += len(word)
        ends.append((len(han), len(cut)))
        return {
            han[a:b]: cut[i:j]
            for a, i in starts
            for b, j in ends
            if a < b and (a, b) != (0, len(han)) and han[a:b] not in self._cuts
        }

    def _for_search(self, cut: list[str]) -> list[str]:
        """The words of a cut with the dictionary words inside them, as jieba's
        ``cut_for_search`` gives them (its code, on a cut already made)."""
        if len(cut) == 1 and len(cut[0]) <= 2:
            return cut
        freq = self._engine().FREQ
        out: list[str] = []
        for w in cut:
            if len(w) > 2:
                out += [w[i : i + 2] for i in range(len(w) - 1) if freq.get(w[i : i + 2])]
            if len(w) > 3:
                out += [w[i : i + 3] for i in range(len(w) - 2) if freq.get(w[i : i + 3])]
            out.append(w)
        return out

    def _engine(self) -> Any:
        """This tokenizer's jieba: the process's base dictionary, copied and taught
        ``words`` when there are any (loading the dictionary once per process)."""
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    base = _base_jieba()
                    if not self.words:
                        self._jieba = base
                    else:
                        import jieba

                        engine = jieba.Tokenizer()
                        engine.FREQ, engine.total = dict(base.FREQ), base.total
                        engine.initialized = True
                        for word in sorted(self.words):
                            engine.add_word(word, freq=_WORD_FREQ)
                        self._jieba = engine
        return self._jieba


@dataclass(frozen=True)
class Analysis:
    """What one cut of a text gives: its BM25 tokens, and its Chinese words as written
    (jieba's precise mode, for marking them in a passage)."""

    tokens: list[str]
    words: list[str]


_CACHED_CHARS = 64  # texts and runs up to this long are remembered (questions, terms)
_CACHE_ENTRIES = 8192

# Bump when the way text becomes tokens changes (the index records it).
TOKENIZER = "jieba+snowball+t2s-v2"


def segmenter_fingerprint(words: Iterable[str]) -> str:
    """Changes whenever the same text could be cut into other tokens: another tokenizer
    version (``TOKENIZER``), another version of jieba, PyStemmer or OpenCC, or other
    taught words. ``TOKENIZER:libraries:words``, so that a check needing only the first
    two (``tokens_of_this_version``) can read them without the words."""
    taught = "\n".join(sorted(_teachable(words))).encode()
    return f"{library_fingerprint()}:{hashlib.sha1(taught).hexdigest()[:16]}"


@lru_cache(maxsize=1)
def library_fingerprint() -> str:
    """``TOKENIZER`` and a digest of the versions of the libraries that cut the text."""
    from qa.models.engine import package_version

    versions = []
    for dist, module in (("jieba", "jieba"), ("PyStemmer", "Stemmer"), ("OpenCC", "opencc")):
        try:
            versions.append(f"{dist}={package_version(dist, module)}")
        except ModuleNotFoundError:  # importlib.metadata's PackageNotFoundError is one
            versions.append(f"{dist}=?")
    digest = hashlib.sha1(" ".join(versions).encode()).hexdigest()[:8]
    return f"{TOKENIZER}:{digest}"


def tokens_of_this_version(fingerprint: str) -> bool:
    """Whether a recorded segmenter fingerprint is of this tokenizer and these library
    versions (whatever words it was taught)."""
    return fingerprint.rpartition(":")[0] == library_fingerprint()


def _teachable(words: Iterable[str]) -> set[str]:
    return {w for w in words if _HAN_ONLY.fullmatch(w) and len(w) > 1}


_HAN_ONLY = re.compile(f"[{HAN}]+")
_WORD_FREQ = 50000
_base: Any = None
_base_lock = threading.Lock()


def _base_jieba() -> Any:
    """jieba's dictionary, loaded once per process and never taught a word."""
    global _base
    if _base is None:
        with _base_lock:
            if _base is None:
                import logging

                import jieba

                jieba.setLogLevel(logging.WARNING)
                engine = jieba.Tokenizer()
                engine.initialize()
                _base = engine
    return _base


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


# The tokenizer taught no words, for text that belongs to no index (quiz cards, tests).
PLAIN = BilingualTokenizer()


def tokenize(text: str) -> list[str]:
    """Tokens for BM25 from ``PLAIN``, the tokenizer taught no words (an index's own
    tokenizer is ``Index.tokenizer``)."""
    return PLAIN.tokenize(text)


def segment(han: str) -> list[str]:
    """Chinese text cut into words by ``PLAIN`` (no overlapping sub-words)."""
    return PLAIN.segment(han)
