"""An English question over Chinese notes: the multilingual model reads its glossary terms
in Chinese (qa.lang.code_mixed), with real models on small Chinese notes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import shared_index

from qa.lang.code_mixed import chinese_terms
from qa.lang.glossary import load_glossary
from qa.presets import BUILTIN
from qa.retrieve.search import Searcher
from qa.store.index import Index

NOTES = Path(__file__).parent / "fixtures" / "notes_zh_small"


@pytest.fixture(scope="module")
def zh_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_index(tmp_path_factory, "zh-small", NOTES)


def test_glossary_terms_are_written_in_chinese_and_question_words_are_not() -> None:
    glossary = load_glossary()
    question = "How do I fix underfitting?"
    rendered = chinese_terms(question, glossary.expand(question))
    assert "欠拟合" in rendered
    assert "underfitting" not in rendered
    assert rendered.startswith("how do i fix")


def test_a_question_without_glossary_terms_is_left_as_it_is() -> None:
    glossary = load_glossary()
    question = "Where did I park the bicycle?"
    assert chinese_terms(question, glossary.expand(question)) == question


def test_e5_alone_finds_the_chinese_section_for_an_english_question(zh_index: Path) -> None:
    # Given "how do I fix underfitting" as written, e5 ranks the section on vanishing
    # gradients first; with 欠拟合 in the question it finds the section on underfitting.
    searcher = Searcher(Index.load(zh_index), BUILTIN["e5"])
    answer = searcher.search("how do I fix underfitting", 3, spans=False)
    assert answer.hits[0].chunk.heading == "欠拟合"
    # A Chinese question is read as it is, and finds the same section.
    assert searcher.search("怎么解决欠拟合", 3, spans=False).hits[0].chunk.heading == "欠拟合"


def test_answer_spans_are_scored_with_the_question_as_asked(zh_index: Path) -> None:
    # The span weights were fitted on the question's own embedding; only ranking reads
    # the rendering with Chinese terms.
    searcher = Searcher(Index.load(zh_index), BUILTIN["default"])
    question = "how do I fix underfitting"
    answer = searcher.search(question, 3)
    assert answer.span_context is not None
    asked = searcher.encoder("e5").embed_queries([question])[0]
    rendered = searcher.encoder("e5").embed_queries(
        [chinese_terms(question, searcher.glossary.expand(question))]
    )[0]
    view = answer.span_context.views["e5"].query
    assert float(view @ asked) > 0.9999
    assert float(view @ rendered) < 0.99
