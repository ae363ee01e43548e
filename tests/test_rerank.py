"""The second stage: question intent, text shape, the shipped model, and its effect on
notes written for it (sibling question headings, a link list, a table of contents)."""

from pathlib import Path

import pytest

from qa.retrieve.rerank import FEATURES, Reranker, TextShape, intents, load_reranker
from qa.retrieve.search import Searcher
from qa.store.build import build_index
from qa.store.index import Index

HARD = Path(__file__).parent / "fixtures" / "hard"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("why does dropout work", {"why"}),
        ("How to fix overfitting?", {"how"}),
        ("L1 vs L2", {"compare"}),
        ("difference between bagging and boosting", {"compare"}),
        ("pros and cons of random forests", {"proscons"}),
        ("What is batch normalization?", {"what"}),
        ("dropout为什么有用", {"why"}),
        ("如何防止过拟合", {"how"}),
        ("BN和LN的区别", {"compare"}),
        ("随机森林的优缺点", {"proscons"}),
        ("Batch Normalization", set()),
        # Inflected forms ask the same: "fixes", "handling", "differently", "compares".
        ("the usual fixes for underfitting", {"how"}),
        ("Handling missing values", {"how"}),
        ("how is GloVe trained differently from word2vec", {"how", "compare"}),
        ("which model compares better", {"compare"}),
        ("prefixes and suffixes", set()),
    ],
)
def test_intents_of_questions_and_headings(text: str, expected: set[str]) -> None:
    assert intents(text) == expected


def test_text_shape_tells_a_link_list_and_a_table_of_contents_from_prose() -> None:
    links = TextShape.of("- [Q1: What is X?](#q1)\n- [Q2: Why Y?](#q2)\n- [Q3: How Z?](#q3)")
    toc = TextShape.of("第一章 绪论\t2\n第二章 线性模型 ........ 15\n第三章 决策树 31")
    prose = TextShape.of("Dropout randomly zeroes units during training, see [the paper](x).")
    assert links.list_link_lines == 1.0 and links.link_density > 0.5
    assert toc.toc_lines == 1.0
    assert prose.list_link_lines == 0.0 and prose.toc_lines == 0.0 and prose.link_density < 0.4


def test_the_shipped_model_reads_every_feature_and_favours_what_it_should() -> None:
    model = load_reranker()
    assert set(model.weights) == set(FEATURES)
    assert model.weights["intent_match"] > 0
    assert model.weights["toc_lines"] < 0 and model.weights["list_link_lines"] < 0
    assert model.weights["heading_coverage"] > 0


def test_a_bad_model_file_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown reranker feature"):
        Reranker.from_json({"format": "qa-reranker", "version": 1, "features": {"nope": 1}})
    with pytest.raises(ValueError, match="finite"):
        Reranker.from_json(
            {"format": "qa-reranker", "version": 1, "features": {"fused": float("nan")}}
        )


@pytest.fixture(scope="module")
def hard_searchers(tmp_path_factory: pytest.TempPathFactory):
    from dataclasses import replace

    from qa.settings import Settings

    folder = tmp_path_factory.mktemp("hard-index")
    build_index(HARD, folder, Settings())
    index = Index.load(folder)
    return {
        "rerank": Searcher(index, Settings()),
        "fused": Searcher(index, replace(Settings(), rerank="none")),
    }


@pytest.mark.parametrize(
    ("question", "heading"),
    [
        ("why does gradient clipping help", "Why does gradient clipping help?"),
        ("how do you choose the clipping threshold", "How to choose the clipping threshold?"),
        ("gradient clipping vs weight decay", "Gradient clipping vs weight decay"),
        ("梯度裁剪有什么优缺点", "Pros and cons of gradient clipping"),
    ],
)
def test_sibling_question_headings_are_told_apart(hard_searchers, question, heading) -> None:
    answer = hard_searchers["rerank"].search(question, 3)
    assert answer.hits[0].chunk.heading == heading


@pytest.mark.parametrize(
    "question",
    ["梯度裁剪有什么优缺点", "why does gradient clipping help", "what is label smoothing"],
)
def test_a_link_list_and_a_contents_page_never_come_first(hard_searchers, question) -> None:
    """Fusion alone puts the contents page first for the Chinese question: it has the
    glossary's Chinese term and the English one; the reranker reads its shape."""
    top = hard_searchers["rerank"].search(question, 3).hits[0].chunk
    assert top.heading not in {"Questions", "Contents page"}


@pytest.mark.parametrize("question", ["what is mixup", "mixup of a cat and a dog"])
def test_a_section_is_shown_by_a_window_with_words_not_by_its_figure(
    hard_searchers, question
) -> None:
    # "What is mixup?" is a paragraph and then a window that is only its figure and a
    # "back to top" link; that short window is the closest to the question.
    from qa.retrieve.rerank import only_figures

    hits = hard_searchers["rerank"].search(question, 3).hits
    mixup = [h for h in hits if h.chunk.heading == "What is mixup?"]
    assert len(mixup) == 1 and mixup[0] is hits[0]
    assert not only_figures(mixup[0].chunk.text) and "convex combinations" in mixup[0].chunk.text


def test_only_figures_is_a_window_without_words_of_its_own() -> None:
    from qa.retrieve.rerank import only_figures

    assert only_figures("![](assets/l1l2.png)\n\n[back to top](#top)")
    assert only_figures('<div align="center"><a href="u"><img src="f.png" /></a></div>')
    assert not only_figures("![](a.png)\n\nThe L1 norm gives sparse weights.")
    assert not only_figures("[back to top](#top)")  # no figure: a link, not a picture
    # A window that replaces a figure needs words, not only links.
    from qa.retrieve.rerank import says_words

    assert not says_words("- [Mixup paper](https://arxiv.org/abs/1710.09412)\n- [back to top](#t)")
    assert says_words("Mixup mixes two images; see [the paper](https://arxiv.org).")
