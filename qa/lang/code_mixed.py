"""An English question with its glossary terms in Chinese, for a multilingual model.

multilingual-e5 matches an English question to Chinese notes poorly: alone it finds the
right section first for 0.46 of the English dev questions over the Chinese notes of
interview-notes-zh, against 0.78 for the Chinese questions. Given the same question with
the terms the glossary knows written in Chinese ("fixes for 欠拟合" rather than "fixes
for underfitting"), it finds 0.62 of them; the words around the terms stay English, which
it reads well. Question words (what, why, how) are left as they are: they carry no topic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from qa.lang.glossary import Expansion, match_form
from qa.lang.text import has_chinese

# A word CC-CEDICT gives more Chinese words for than this is too ambiguous to write in
# Chinese for the model ("even" 19: 均匀, 哪怕, ...; "well" 10); BM25 still gets them.
MAX_RENDERED_SENSES = 5


def chinese_terms(
    question: str, expansion: Expansion, words: Mapping[str, str] | None = None
) -> str:
    """``question`` (in match form) with each English glossary term replaced by its
    first Chinese form; the question unchanged when no term has one.

    ``words``: Chinese for English words and two-word phrases the glossary lacks (from
    CC-CEDICT, in match form: ``Searcher.analyse`` gives those the notes contain); each is
    replaced where no glossary term covers it, a phrase before its words."""
    text = match_form(question)
    spans: list[tuple[int, int, str]] = []
    for m in expansion.matches:
        concept = m.concepts[0]
        if concept.kind == "question" or has_chinese(m.text) or not concept.chinese:
            continue
        spans.append((m.start, m.end, concept.chinese[0]))
    taken = [(m.start, m.end) for m in expansion.matches]
    for word in sorted(words or {}, key=lambda w: (-w.count(" "), w)):
        for found in re.finditer(rf"(?<![a-z0-9']){re.escape(word)}(?![a-z0-9'])", text):
            a, b = found.span()
            if all(b <= x or a >= y for x, y in taken):
                spans.append((a, b, (words or {})[word]))
                taken.append((a, b))
    if not spans:
        return question
    pieces: list[str] = []
    pos = 0
    for a, b, chinese in sorted(spans):
        pieces += [text[pos:a], chinese]
        pos = b
    pieces.append(text[pos:])
    return "".join(pieces)
