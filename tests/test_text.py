"""Language detection and bilingual tokens."""

import pytest

from qa.lang.text import detect_language, tokenize


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("what is dropout", "en"),
        ("BN在训练和推理时有什么区别", "zh"),
        ("dropout为什么有用", "zh"),
        ("BN和LN的区别", "zh"),
        ("what does the word 过 mean in this sentence", "en"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_a_chinese_question_is_cut_into_words_not_one_token() -> None:
    tokens = tokenize("批归一化在训练和推理时有什么区别")
    assert "训练" in tokens and "推理" in tokens and "区别" in tokens
    assert all(len(t) < 8 for t in tokens)


def test_english_words_are_stemmed_and_stopwords_dropped() -> None:
    assert tokenize("What are the Regularization techniques?") == ["regular", "techniqu"]


def test_mixed_script_and_full_width_letters() -> None:
    assert tokenize("ＢＮ和dropout") == ["bn", "dropout"]


def test_traditional_chinese_is_folded_to_simplified_for_matching() -> None:
    assert tokenize("過擬合怎麼辦") == tokenize("过拟合怎么办")
    assert tokenize("歸一化和標準化的區別") == tokenize("归一化和标准化的区别")


# ---------------------------------------------------------------------------- the tokenizer

ODD = "这个奇异补丁很有用"


def test_a_tokenizer_cuts_with_its_own_taught_words_and_no_one_elses() -> None:
    """jieba's dictionary used to be the process's: a word taught for one notes folder
    changed how every other folder's text was cut. Each tokenizer now owns its own."""
    from qa.lang.text import PLAIN, BilingualTokenizer

    taught = BilingualTokenizer(["奇异补丁"])
    other = BilingualTokenizer(["有用的东西"])
    assert "奇异补丁" in taught.tokenize(ODD)
    assert "奇异补丁" not in other.tokenize(ODD)
    assert "奇异补丁" not in BilingualTokenizer().tokenize(ODD)
    assert "奇异补丁" not in PLAIN.tokenize(ODD)
    assert taught.words == {"奇异补丁"} and other.words == {"有用的东西"}


def test_the_fingerprint_changes_exactly_when_the_tokens_can() -> None:
    from qa.lang.text import BilingualTokenizer

    plain, taught = BilingualTokenizer(), BilingualTokenizer(["奇异补丁"])
    assert plain.tokenize(ODD) != taught.tokenize(ODD)  # ['奇异', '补丁', '有用'] …
    assert plain.fingerprint != taught.fingerprint
    # the same words in another order, or with words jieba is never taught (one
    # character, Latin letters): the same cut, the same fingerprint
    same = BilingualTokenizer(["奇异补丁", "x", "补", "dropout", "奇异补丁"])
    assert same.fingerprint == taught.fingerprint
    assert BilingualTokenizer(["补丁奇异", "奇异补丁"]).fingerprint != taught.fingerprint


def test_one_cut_gives_the_search_tokens_and_the_words_as_written() -> None:
    """The tokens are jieba's search mode (words and the dictionary words inside them),
    from the same cut that gives the question's words (its precise mode)."""
    import jieba

    from qa.lang.text import CHINESE_STOPWORDS, HAN_RUN, BilingualTokenizer

    tokenizer = BilingualTokenizer()
    reference = jieba.Tokenizer()
    for text in [
        "批归一化在训练和推理时有什么区别",
        "中华人民共和国的机器学习工程师常用随机梯度下降优化神经网络",
        "支持向量机的核函数怎么选",
    ]:
        expected = [t for t in reference.lcut_for_search(text) if t not in CHINESE_STOPWORDS]
        analysis = tokenizer.analyse(text)
        assert analysis.tokens == expected == tokenize(text)
        assert analysis.words == [w for run in HAN_RUN.findall(text) for w in reference.lcut(run)]
    traditional = tokenizer.analyse("過擬合怎麼辦")
    assert traditional.tokens == tokenize("过拟合怎么办")  # matched in Simplified …
    assert traditional.words == ["過", "擬合", "怎麼辦"]  # … marked as the user wrote it


def test_a_question_is_tokenized_once_per_search_and_its_highlights(
    notes, tmp_path, fake_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One analysis of the question serves the ranking, the answering sentences and the
    words marked in the chat (which used to cut it again in another jieba mode)."""
    from qa.lang.text import BilingualTokenizer
    from qa.library import Library
    from qa.retrieve.passage import highlight_terms

    question = "BN在训练和推理时有什么区别"
    searcher = Library(notes, tmp_path / "index", fake_settings).open()
    tokenizer = searcher.tokenizer
    tokenizer.warm_up()
    analysed: list[str] = []
    cut: list[str] = []
    analyse = BilingualTokenizer.analyse
    engine = tokenizer._engine()
    lcut = engine.lcut

    def counting_analyse(self: BilingualTokenizer, text: str):  # type: ignore[no-untyped-def]
        if self is tokenizer:  # (the fake encoder has its own, taught nothing)
            analysed.append(text)
        return analyse(self, text)

    def counting_lcut(text: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        cut.append(text)
        return lcut(text, *args, **kwargs)

    monkeypatch.setattr(BilingualTokenizer, "analyse", counting_analyse)
    monkeypatch.setattr(engine, "lcut", counting_lcut)
    answer = searcher.search(question)
    shown = "\n".join(h.chunk.text for h in answer.hits)
    assert answer.query is not None
    marked = highlight_terms(answer.query, shown)
    assert analysed.count(question) == 1
    run = "在训练和推理时有什么区别"  # the question's one run of Chinese: cut once, and
    assert cut.count(run) == 1  # what is left of it once its glossary terms are matched
    assert not [c for c in cut if c != run and c in run]  # is read off that cut
    assert answer.query.tokens == tokenizer.tokenize(question)
    assert "训练" in answer.query.words and "推理" in answer.query.words
    assert {"BN", "Training", "Inference"} <= set(marked)  # 训练 and 推理 in English notes
    assert all(hit.answer_spans is not None for hit in answer.hits[:3])


def test_the_pieces_around_taught_words_are_cut_as_jieba_cuts_them() -> None:
    """What a question leaves once its glossary terms are taken out is read off the
    question's own cut; it is what cutting those pieces again would give."""
    from qa.lang.text import BilingualTokenizer

    tokenizer = BilingualTokenizer(["批归一化", "随机梯度下降", "过拟合"])
    engine = tokenizer._engine()
    for run in [
        "批归一化在训练和推理时有什么区别",
        "为什么随机梯度下降比批量梯度下降更容易跳出局部最优",
        "怎么防止过拟合和欠拟合以及过拟合的原因",
    ]:
        pieces = tokenizer._pieces(run, engine.lcut(run))
        assert pieces  # each has a taught word inside
        for piece, words in pieces.items():
            assert words == (engine.lcut(piece) if len(piece) > 1 else [piece])
