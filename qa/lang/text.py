"""Language detection and tokens that work for English and Chinese alike.

English words are lower-cased and stemmed (Snowball); Chinese runs are segmented into
words with jieba, which is loaded only when a text actually contains Chinese.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
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


def tokenize(text: str) -> list[str]:
    """Tokens for BM25: stemmed English words and segmented Chinese words, no stopwords."""
    tokens: list[str] = []
    stem = _stemmer().stemWord
    for han, word in _RUNS.findall(normalise(text)):
        if han:
            tokens.extend(t for t in _segment(han) if t not in CHINESE_STOPWORDS)
        elif word not in ENGLISH_STOPWORDS:
            tokens.append(stem(word))
    return tokens


def _segment(han: str) -> list[str]:
    if len(han) == 1:
        return [han]
    return [t for t in _jieba().lcut_for_search(han) if t.strip()]


def segment(han: str) -> list[str]:
    """Chinese text cut into words (no overlapping sub-words)."""
    return [t for t in _jieba().lcut(han) if t.strip()]


_user_words: set[str] = set()
_jieba_module: Any = None
TOKENIZER = "jieba+snowball+t2s-v2"


def segmenter_fingerprint(words: Iterable[str]) -> str:
    """Changes whenever ``tokenize`` could cut the same text differently: another
    tokenizer version, or other words taught to jieba — the glossary ``words`` and every
    word taught earlier in this process (jieba's dictionary is the process's, see
    add_words), so tokens recorded under another cut are never reused."""
    import hashlib

    taught = "\n".join(sorted(_teachable(words) | _user_words)).encode()
    return f"{TOKENIZER}:{hashlib.sha1(taught).hexdigest()[:16]}"


def _teachable(words: Iterable[str]) -> set[str]:
    return {w for w in words if _HAN_ONLY.fullmatch(w) and len(w) > 1}


def add_words(words: Iterable[str]) -> None:
    """Teach the Chinese segmenter whole terms (from the glossary) so they stay one token.

    Words are remembered and given to jieba when it first loads, so a process that never
    sees Chinese never pays for loading it.
    """
    new = _teachable(words) - _user_words
    _user_words.update(new)
    if _jieba_module is not None:
        for word in new:
            _jieba_module.add_word(word, freq=_WORD_FREQ)


_HAN_ONLY = re.compile(f"[{HAN}]+")
_WORD_FREQ = 50000


def _jieba() -> Any:
    global _jieba_module
    if _jieba_module is None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        for word in _user_words:
            jieba.add_word(word, freq=_WORD_FREQ)
        _jieba_module = jieba
    return _jieba_module


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")
