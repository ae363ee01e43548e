"""Over notes partly in English and partly in Chinese, e5 reads each section against the
question in the section's language (qa.retrieve.by_language), with real models on a small
bilingual folder: six Chinese sections, eight English ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import shared_index

from qa.lang.code_mixed import chinese_terms
from qa.presets import BUILTIN
from qa.retrieve.by_language import best_rows, scores_by_language, section_languages
from qa.retrieve.search import Searcher
from qa.store.build import build_index
from qa.store.index import Index

NOTES = Path(__file__).parent / "fixtures" / "notes_bilingual_small"


@pytest.fixture(scope="module")
def bilingual_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_index(tmp_path_factory, "bilingual-small", NOTES)


def test_each_row_is_scored_by_the_vector_of_its_language() -> None:
    matrix = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    chinese = np.array([False, True, True])
    asked = np.array([1.0, 0.0], dtype=np.float32)
    rendered = np.array([0.0, 1.0], dtype=np.float32)
    scores = scores_by_language(matrix, chinese, asked, rendered)
    assert scores.tolist() == pytest.approx([1.0, 1.0, 0.8])
    # Ties keep the row order; a mask of rows restricts the choice.
    assert best_rows(scores, 2).tolist() == [0, 1]
    assert best_rows(scores, 5, rows=np.array([1, 2])).tolist() == [1, 2]


def test_section_languages() -> None:
    texts = ["模型连训练集都拟合不好。", "Adam keeps running averages.", "用 ReLU 或者残差连接"]
    assert section_languages(texts).tolist() == [True, False, True]


def test_e5_finds_chinese_sections_and_english_ones_in_a_bilingual_folder(
    bilingual_index: Path,
) -> None:
    searcher = Searcher(Index.load(bilingual_index), BUILTIN["e5"])
    assert not searcher._notes_are_chinese()  # mostly English: not the code-mixed rule
    # Read as asked, e5 ranks English sections first for these (Cross-validation,
    # Batch size); each Chinese section is now read against the question with its
    # terms in Chinese.
    top = searcher.search("how do I fix underfitting", 3, spans=False).hits[0]
    assert top.chunk.heading == "欠拟合"
    top = searcher.search("what does batch normalization do", 3, spans=False).hits[0]
    assert top.chunk.heading == "批归一化"
    # English sections are still read against the question as asked.
    top = searcher.search("how do I initialize the weights of a ReLU network", 3, spans=False)
    assert top.hits[0].chunk.heading == "Weight initialization"
    assert searcher.search("how to choose the batch size", 3).hits[0].chunk.heading == (
        "Batch size"
    )


def test_scores_are_the_inner_products_with_the_vector_of_the_sections_language(
    bilingual_index: Path,
) -> None:
    searcher = Searcher(Index.load(bilingual_index), BUILTIN["e5"])
    question = "how do I fix underfitting"
    answer = searcher.search(question, 14, spans=False)
    encoder = searcher.encoder("e5")
    mixed = chinese_terms(question, searcher.glossary.expand(question))
    asked, rendered = encoder.embed_queries([question, mixed])
    by_heading = {h.chunk.heading: h.channel_scores["e5"] for h in answer.hits}
    rows = {c.heading: i for i, c in enumerate(searcher.index.chunks)}
    matrix = searcher._matrix("e5")
    assert by_heading["欠拟合"] == pytest.approx(float(matrix[rows["欠拟合"]] @ rendered), abs=1e-5)
    assert by_heading["Model capacity"] == pytest.approx(
        float(matrix[rows["Model capacity"]] @ asked), abs=1e-5
    )
    # The question's own vector is what the decline signals and answer spans read.
    answer = searcher.search(question, 3)
    assert answer.span_context is not None
    assert float(answer.span_context.views["e5"].query @ asked) > 0.9999


def test_english_notes_search_with_one_vector(tmp_path: Path) -> None:
    # No Chinese in the notes: the question is embedded once, as asked.
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text(
        "# Notes\n\n## Underfitting\n\nAdd capacity or train longer.\n\n"
        "## Overfitting\n\nRegularize or add data.\n",
        encoding="utf-8",
    )
    build_index(tmp_path / "notes", tmp_path / "index", BUILTIN["default"])
    searcher = Searcher(Index.load(tmp_path / "index"), BUILTIN["e5"])
    calls: list[list[str]] = []
    encoder = searcher.encoder("e5")
    inner = encoder.embed_queries

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return inner(texts)

    encoder.embed_queries = counting  # type: ignore[method-assign]
    try:
        searcher.search("how do I fix underfitting", 2, spans=False)
    finally:
        encoder.embed_queries = inner  # type: ignore[method-assign]
    assert calls == [["how do I fix underfitting"]]


def test_a_search_within_one_note_keeps_to_it(bilingual_index: Path) -> None:
    # Scored by language, the candidates still come only from the notes asked about.
    searcher = Searcher(Index.load(bilingual_index), BUILTIN["e5"])
    answer = searcher.search("how do I fix underfitting", 5, within=["training-notes.md"])
    assert answer.hits
    assert {h.chunk.location.file for h in answer.hits} == {"training-notes.md"}
    answer = searcher.search("how do I fix underfitting", 5, within=["深度学习.md"])
    assert answer.hits[0].chunk.heading == "欠拟合"
