"""An English-only model reads a section written in Chinese in English words: the
glossary's terms and, between them, each word's first CC-CEDICT gloss."""

from __future__ import annotations

from types import SimpleNamespace

from qa.lang.dictionary import Dictionary, load_dictionary
from qa.lang.english_reading import EnglishReader
from qa.lang.glossary import Glossary, shipped_concepts
from qa.lang.text import BilingualTokenizer
from qa.store.build import embed_text, english_reader
from qa.store.chunks import Chunk

GLOSSARY = Glossary(shipped_concepts())
TOKENIZER = BilingualTokenizer(GLOSSARY.chinese_forms())


def test_glossary_terms_and_dictionary_words_are_read_and_latin_stays() -> None:
    reader = EnglishReader(GLOSSARY, TOKENIZER.segment, load_dictionary())
    text = "降低欠拟合风险的方法：增加模型复杂度，用 Dropout 时减小正则化系数"
    read = reader(text)
    words = read.split()
    assert "underfitting" in words  # the glossary's 欠拟合
    assert "method" in words and "risk" in words  # CC-CEDICT's 方法, 风险
    assert "dropout" in words  # Latin text kept (in the match form: lower case)
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in read)
    # What the glossary alone gives keeps only its own terms.
    alone = GLOSSARY.render_english(text).split()
    assert "underfitting" in alone and "risk" not in alone


def test_a_word_with_too_many_senses_or_none_is_left_out() -> None:
    dictionary = Dictionary(
        {"方法": ("method",), "东西": ("thing", "stuff", "east-west", "a", "b", "c")}, {}
    )
    reader = EnglishReader(GLOSSARY, TOKENIZER.segment, dictionary)
    assert reader("方法和东西").split() == ["method"]
    assert reader("no Chinese here") == "no Chinese here"


def chunk(text: str) -> Chunk:
    return Chunk("id", ("Notes",), text, True)


def test_an_english_only_model_reads_chinese_sections_through_the_reader() -> None:
    english = SimpleNamespace(multilingual=False)
    multilingual = SimpleNamespace(multilingual=True)
    reader = english_reader(GLOSSARY, TOKENIZER)
    chinese = chunk("降低欠拟合风险的方法：增加模型复杂度")
    assert "method" in embed_text(chinese, english, GLOSSARY, reader).split()  # type: ignore[arg-type]
    # A multilingual model reads the text as written.
    assert embed_text(chinese, multilingual, GLOSSARY, reader) == chinese.embed_text()  # type: ignore[arg-type]
    # A section written in English with a Chinese phrase keeps the glossary's rendering.
    mixed = chunk("Dropout reduces overfitting by dropping units at random (一种正则化方法).")
    assert embed_text(mixed, english, GLOSSARY, reader) == GLOSSARY.render_english(  # type: ignore[arg-type]
        mixed.embed_text()
    )
