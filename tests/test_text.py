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
