"""A question analysed once: its language, tokens, words, terms and expansion.

``Searcher.analyse`` makes a ``Query``; the search ranks with it, the answering-sentence
step scores sentences with its terms, and the highlighter of the chat marks its words,
so that every step reads the same cut of the question, by the index's own tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qa.lang.glossary import Expansion
from qa.lang.text import BilingualTokenizer
from qa.retrieve.confidence import Term


@dataclass(frozen=True)
class Query:
    """What the search, the answering sentences and the highlighter read of a question."""

    text: str  # the question, cleaned (qa.retrieve.search.clean_question)
    lang: str  # "en" or "zh" (qa.lang.text.detect_language)
    tokens: list[str]  # its BM25 tokens
    words: list[str]  # its Chinese words as written (jieba's precise mode), for marking
    expansion: Expansion | None  # the question carried across languages by the glossary
    own_terms: list[Term]  # its topic terms (qa.retrieve.confidence.topic_terms)
    terms: list[Term]  # ... with the dictionary's translations added
    weighted: dict[str, float] = field(default_factory=dict)  # BM25 tokens and weights
    tokenizer: BilingualTokenizer = field(default_factory=BilingualTokenizer, repr=False)
    # Chinese for English words the glossary lacks, from CC-CEDICT (qa.lang.code_mixed).
    chinese_words: dict[str, str] = field(default_factory=dict)
