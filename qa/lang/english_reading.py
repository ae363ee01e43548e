"""A section written in Chinese, in English words, for a model that reads only English.

``Glossary.render_english`` writes the glossary's terms in English and drops every other
Chinese word, which leaves an English-only model little of a Chinese section to read.
Here the words between the glossary's terms are read too: each jieba word (the index's
own segmenter) by its first CC-CEDICT gloss. A word with more than
``MAX_RENDERED_SENSES`` senses is too ambiguous to stand for one English word and is left
out, as the question side does (qa.lang.code_mixed); so are unknown words and single
characters (the dictionary lists words of two or more). Latin text and code stay.

Chosen on the dev halves (bench/docside_render.py, bench/results/session11-notes.md):
MiniLM alone over interview-notes-zh 0.682 -> 0.758 (English questions), and the default
0.864 -> 0.879 English / 0.883 -> 0.900 Chinese there, with notes in English unchanged
(they have no Chinese section).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from qa.lang.code_mixed import MAX_RENDERED_SENSES
from qa.lang.dictionary import Dictionary, load_dictionary
from qa.lang.glossary import Glossary, match_form
from qa.lang.text import HAN_RUN, has_chinese

# Recorded in an index's settings: its English-only vectors of Chinese sections are read
# this way, and an index read another way is brought up to date.
READING = "cedict-v1"

_CJK_PUNCTUATION = re.compile(r"[\u3000-\u303f\uff00-\uffef]")


class EnglishReader:
    """Reads Chinese text in English words; the dictionary is opened on first use."""

    def __init__(
        self,
        glossary: Glossary,
        segment: Callable[[str], list[str]],
        dictionary: Dictionary | None = None,
    ):
        self.glossary = glossary
        self.segment = segment
        self._dictionary = dictionary
        self._glosses: dict[str, str] = {}  # word -> its gloss ("" for none): notes repeat

    @property
    def dictionary(self) -> Dictionary:
        if self._dictionary is None:
            self._dictionary = load_dictionary()
        return self._dictionary

    def __call__(self, text: str) -> str:
        if not has_chinese(text):
            return text
        form = match_form(text)
        pieces: list[str] = []
        pos = 0
        for m in self.glossary.find(form):
            pieces.append(self._words(form[pos : m.start]))
            concept = m.concepts[0]
            english = concept.english[0] if concept.english else ""
            pieces.append(f" {english} " if has_chinese(m.text) else m.text)
            pos = m.end
        pieces.append(self._words(form[pos:]))
        return " ".join("".join(pieces).split())

    def _words(self, piece: str) -> str:
        """Each Chinese run of ``piece`` by the glosses of its words; the rest as it is."""

        def glossed(run: re.Match[str]) -> str:
            out = []
            for word in self.segment(run.group()):
                gloss = self._glosses.get(word)
                if gloss is None:
                    senses = self.dictionary.zh_en.get(word, ())
                    gloss = senses[0] if senses and len(senses) <= MAX_RENDERED_SENSES else ""
                    self._glosses[word] = gloss
                if gloss:
                    out.append(gloss)
            return f" {' '.join(out)} "

        return _CJK_PUNCTUATION.sub(" ", HAN_RUN.sub(glossed, piece))
