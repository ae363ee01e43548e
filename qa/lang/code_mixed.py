"""An English question with its glossary terms in Chinese, for a multilingual model.

multilingual-e5 matches an English question to Chinese notes poorly: alone it finds the
right section first for 0.46 of the English dev questions over the Chinese notes of
interview-notes-zh, against 0.78 for the Chinese questions. Given the same question with
the terms the glossary knows written in Chinese ("fixes for 欠拟合" rather than "fixes
for underfitting"), it finds 0.62 of them; the words around the terms stay English, which
it reads well. Question words (what, why, how) are left as they are: they carry no topic.
"""

from __future__ import annotations

from qa.lang.glossary import Expansion, match_form
from qa.lang.text import has_chinese


def chinese_terms(question: str, expansion: Expansion) -> str:
    """``question`` (in match form) with each English glossary term replaced by its
    first Chinese form; the question unchanged when no term has one."""
    text = match_form(question)
    pieces: list[str] = []
    pos = 0
    for m in expansion.matches:
        concept = m.concepts[0]
        if concept.kind == "question" or has_chinese(m.text) or not concept.chinese:
            continue
        pieces += [text[pos : m.start], concept.chinese[0]]
        pos = m.end
    if not pieces:
        return question
    pieces.append(text[pos:])
    return "".join(pieces)
