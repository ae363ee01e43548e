"""English words the glossary lacks are written in Chinese for e5 too, from CC-CEDICT, when
the notes contain the translation and the word is not too ambiguous (qa.lang.code_mixed),
with the real dictionary and real models on small Chinese notes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import shared_index

from qa.lang.code_mixed import MAX_RENDERED_SENSES, chinese_terms
from qa.lang.dictionary import load_dictionary
from qa.lang.glossary import load_glossary
from qa.presets import BUILTIN
from qa.retrieve.search import Searcher
from qa.store.index import Index

NOTES = Path(__file__).parent / "fixtures" / "notes_zh_algorithms"


@pytest.fixture(scope="module")
def algorithms_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_index(tmp_path_factory, "zh-algorithms", NOTES)


def test_words_are_replaced_where_no_glossary_term_covers_them() -> None:
    glossary = load_glossary()
    question = "How do I fix underfitting in the knapsack problem?"
    words = {"knapsack": "背包", "underfitting": "不该用"}
    rendered = chinese_terms(question, glossary.expand(question), words)
    # The glossary's 欠拟合 wins over a word for the same span; knapsack is written 背包.
    assert rendered == "how do i fix 欠拟合 in the 背包 problem?"
    # Whole words only: "bag" is not replaced inside "bags" or "airbag".
    assert chinese_terms("airbag bags bag", glossary.expand("x"), {"bag": "包"}) == (
        "airbag bags 包"
    )


def test_ambiguous_words_are_counted_by_their_chinese_words() -> None:
    dictionary = load_dictionary()
    assert dictionary.senses("knapsack") <= MAX_RENDERED_SENSES
    assert dictionary.senses("even") > MAX_RENDERED_SENSES  # 均匀, 哪怕, 尚且, ...
    assert dictionary.senses("well") > MAX_RENDERED_SENSES  # 好好, 水井, ...


def test_analyse_gives_chinese_for_words_the_notes_use(algorithms_index: Path) -> None:
    searcher = Searcher(Index.load(algorithms_index), BUILTIN["default"])
    query = searcher.analyse("how do I solve the knapsack problem")
    assert query.chinese_words == {"knapsack": "背包"}
    # Too ambiguous to write in Chinese, whatever the notes contain: they stay English.
    query = searcher.analyse("does quicksort even sort well")
    assert "even" not in query.chinese_words and "well" not in query.chinese_words
    # A Chinese question has no English words to write in Chinese.
    assert searcher.analyse("背包问题怎么解").chinese_words == {}


def test_e5_reads_the_dictionary_words_in_chinese(algorithms_index: Path) -> None:
    searcher = Searcher(Index.load(algorithms_index), BUILTIN["e5"])
    question = "which sorting algorithms are stable"
    expansion = searcher.glossary.expand(question)
    query = searcher.analyse(question)
    assert query.chinese_words.get("sorting") == "排序"
    rendered = chinese_terms(question, expansion, query.chinese_words)
    assert "排序" in rendered
    answer = searcher.search(query, 3, spans=False)
    top = answer.hits[0]
    assert top.chunk.heading == "稳定排序与不稳定排序"
    encoder = searcher.encoder("e5")
    with_words, glossary_only = encoder.embed_queries(
        [rendered, chinese_terms(question, expansion)]
    )
    section = searcher._matrix("e5")[top.row]
    assert top.channel_scores["e5"] == pytest.approx(float(section @ with_words), abs=1e-5)
    # Written with 排序, the question is nearer the Chinese section than without it.
    assert float(section @ with_words) > float(section @ glossary_only)
