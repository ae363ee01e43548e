"""Words the glossary lacks, carried across languages by CC-CEDICT."""

import functools
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FAKE

from qa.lang.dictionary import load_dictionary
from qa.retrieve.search import Searcher
from qa.store.build import build_index
from qa.store.index import Index

NOTES = {
    "算法.md": "# 算法\n\n## 背包问题\n\n用动态规划求解，容量从大到小遍历。\n\n"
    "## 稳定排序\n\n归并排序保持相等元素的相对次序。\n\n## 链表\n\n用指针连接节点。\n",
    "english.md": "# Algorithms\n\n## Knapsack\n\nSolve it with dynamic programming.\n\n"
    "## Linked lists\n\nNodes joined by pointers.\n",
}


def test_the_dictionary_knows_everyday_words_the_glossary_lacks() -> None:
    d = load_dictionary()
    assert "knapsack" in d.english("背包", lambda w: True)
    assert "背包" in d.chinese("knapsack", lambda w: True)
    assert d.chinese("knapsack", lambda w: False) == []  # only words the notes contain


def _searchers(tmp_path: Path) -> tuple[Searcher, Searcher]:
    notes = tmp_path / "notes"
    notes.mkdir()
    for name, text in NOTES.items():
        (notes / name).write_text(text, encoding="utf-8")
    bm25 = replace(FAKE, models=(), rerank="none")  # words only: what the dictionary adds
    build_index(notes, tmp_path / "index", bm25)
    index = Index.load(tmp_path / "index")
    return Searcher(index, bm25), Searcher(index, replace(bm25, dictionary=False))


def test_an_english_word_finds_the_chinese_section_and_back(tmp_path: Path) -> None:
    on, off = _searchers(tmp_path)
    # "stable" and "sort" are in no glossary entry of this note; the dictionary has them.
    assert on.search("stable sort", 3).hits[0].chunk.heading == "稳定排序"
    assert "稳定排序" not in [h.chunk.heading for h in off.search("stable sort", 3).hits]
    # 指针 is "pointer": the Chinese question reaches the English section as well.
    headings = [h.chunk.heading for h in on.search("指针连接", 5).hits]
    assert "Linked lists" in headings
    assert "Linked lists" not in [h.chunk.heading for h in off.search("指针连接", 5).hits]


def test_the_parsed_dictionary_is_cached_and_a_damaged_cache_is_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from itertools import islice

    from qa.lang import dictionary

    # The first 5,000 lines of CC-CEDICT: what is cached is the point here, not its size
    # (parsing all 120,000 lines twice took most of this test's time).
    real = dictionary.cedict_file()
    assert real is not None
    excerpt = tmp_path / "cedict.txt"
    with open(real, encoding="utf-8") as f:
        excerpt.write_text("".join(islice(f, 5000)), encoding="utf-8")
    monkeypatch.setattr(dictionary, "cedict_file", lambda: excerpt)
    monkeypatch.setattr(dictionary, "_cache_dir", lambda: tmp_path)
    # The cached dictionary of this excerpt must not outlive the test.
    fresh = functools.lru_cache(maxsize=1)(dictionary.load_dictionary.__wrapped__)
    monkeypatch.setattr(dictionary, "load_dictionary", fresh)
    parsed = dictionary._parse(excerpt)
    first = dictionary.load_dictionary()
    assert len(first.zh_en) > 1000
    # What is read back from the cache, word by word, is what the parse made.
    assert dict(first.zh_en) == dict(parsed.zh_en) and dict(first.en_zh) == dict(parsed.en_zh)
    (cached,) = tmp_path.glob("cedict-*.sqlite")
    parse = dictionary._parse

    def must_not_parse(path: Path) -> dictionary.Dictionary:
        raise AssertionError("parsed again although the cache is sound")

    monkeypatch.setattr(dictionary, "_parse", must_not_parse)
    dictionary.load_dictionary.cache_clear()
    word = next(iter(parsed.zh_en))
    assert dictionary.load_dictionary().english(word, lambda w: True) == list(
        parsed.zh_en[word][: dictionary.MAX_FORMS]
    )
    data = cached.read_bytes()
    for damaged in (data[: len(data) // 2], b"not a database" * 100, b""):
        cached.write_bytes(damaged)
        monkeypatch.setattr(dictionary, "_parse", must_not_parse)
        dictionary.load_dictionary.cache_clear()
        with pytest.raises(AssertionError, match="parsed again"):
            dictionary.load_dictionary()  # a damaged cache is never trusted
        monkeypatch.setattr(dictionary, "_parse", parse)
        dictionary.load_dictionary.cache_clear()
        again = dictionary.load_dictionary()
        assert dict(again.zh_en) == dict(parsed.zh_en)  # parsed and written again
        assert cached.read_bytes() != damaged
    dictionary.load_dictionary.cache_clear()


def test_inflected_english_words_are_looked_up_by_their_base_form() -> None:
    d = load_dictionary()
    anything = lambda w: True  # noqa: E731
    # CC-CEDICT lists "sort", "integer", "initialize", "random number", not their inflections.
    assert "排序" in d.chinese("sorting", anything)
    assert "整数" in d.chinese("integers", anything)
    assert "初始化" in d.chinese("initialized", anything)
    assert "随机数" in d.chinese("random numbers", anything)
    assert "出现" in d.chinese("appears", anything)
    # Derived forms too: "normally distributed" is "normal distribution" (正态分布), and a
    # word that is an entry also has the senses of its derivations (standardization 标准化).
    assert "正态分布" in d.chinese("normally distributed", anything)
    assert d.chinese("standardize", "标准化".__eq__) == ["标准化"]
    # A word that is itself an entry keeps its own senses ("news" is 新闻, not "new").
    assert d.chinese("news", anything)[0] == "新闻"
    # A base form is only taken when it stems like the word: "hoped" is "hope", not "hop".
    assert d.chinese("hoped", anything) == d.chinese("hope", anything)
    assert "蹦跳" not in d.chinese("hoped", anything)


def test_an_inflected_english_question_finds_the_chinese_section(tmp_path: Path) -> None:
    on, _ = _searchers(tmp_path)
    # "sorting" is no CC-CEDICT entry; its base form "sort" is (排序).
    hits = on.search("sorting", 3).hits
    assert [h.chunk.heading for h in hits][:1] == ["稳定排序"]


def test_has_english_knows_glosses_in_their_base_forms() -> None:
    from qa.lang.dictionary import load_dictionary

    dictionary = load_dictionary()
    assert dictionary.has_english("knapsack")
    assert dictionary.has_english("Knapsacks")  # match form, then base form
    assert not dictionary.has_english("lightgbm")


def test_a_two_word_phrase_the_dictionary_has_is_one_term(tmp_path: Path) -> None:
    """ "linked list" is 链表 in CC-CEDICT: the question's two words are found where the
    phrase is, in either language, not by "link" (关联) and "list" (列举) apart."""
    on, _ = _searchers(tmp_path)
    terms = on.analyse("reverse a linked list").terms
    phrase = [t for t in terms if ("链表",) in t]
    assert len(phrase) == 2 and all(("link", "list") in t for t in phrase)
    assert not any(("link",) in t or ("list",) in t for t in terms)
    assert on.analyse("reverse a linked list").chinese_words == {"linked list": "链表"}
    assert "关联" not in on.analyse("reverse a linked list").weighted  # not "link" alone
    # Each word keeps its own term: the phrase takes the two words it is made of.
    both = on.analyse("a linked list or an array list").terms
    assert sum(("链表",) in t for t in both) == 2  # linked, and its list
    assert sum(("list",) in t for t in both) == 1  # the array's list
    # Across punctuation the two words are no phrase.
    assert not any(("链表",) in t for t in on.analyse("was it linked? list them").terms)
    # A word pair the dictionary does not have stays two terms: 稳定 and 排序.
    stable, sort = on.analyse("stable sort").terms
    assert ("稳定",) in stable and ("排序",) in sort and stable != sort


def test_a_phrase_of_one_word_twice_is_no_crash(tmp_path: Path) -> None:
    """CC-CEDICT has "lose lose" (双输): one stem twice is left as it is."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("# 博弈\n\n结局：双输\n", encoding="utf-8")
    bm25 = replace(FAKE, models=(), rerank="none")
    build_index(notes, tmp_path / "index", bm25)
    searcher = Searcher(Index.load(tmp_path / "index"), bm25)
    query = searcher.analyse("why is a lose lose outcome bad")  # raised KeyError before
    assert "双输" in query.weighted  # BM25 still reads the phrase
    assert not any(("lose", "lose") in t for t in query.terms)
