"""Fusion methods on hand-made channel scores, and the coverage signals (ranking, declining)."""

import math
from dataclasses import replace

import numpy as np
import pytest

from qa.lang.glossary import load_glossary
from qa.lang.text import tokenize
from qa.library import Library
from qa.models.encoders import UnknownNameError
from qa.retrieve.confidence import (
    DEFAULT_MODEL,
    coverage,
    informative_terms,
    load_model,
    topic_terms,
)
from qa.retrieve.fusion import fuse_rrf, fuse_weighted, get_fusion, ranks_of
from qa.settings import Settings
from qa.store.build import build_index
from qa.store.lexical import LexicalIndex, build_bm25

NAN = float("nan")


def test_ranks_put_missing_last() -> None:
    ranks = ranks_of(np.array([0.2, NAN, 0.9, 0.5]))
    assert list(ranks[[2, 3, 0]]) == [1, 2, 3]
    assert math.isinf(ranks[1])


def test_rrf_matches_the_formula() -> None:
    channels = {"bm25": np.array([3.0, NAN]), "minilm": np.array([0.1, 0.9])}
    fused = fuse_rrf(channels, {"bm25": 1.0, "minilm": 2.0}, k=60)
    assert fused[0] == pytest.approx(1 / 61 + 2 / 62)
    assert fused[1] == pytest.approx(2 / 61)


def test_weighted_normalises_each_channel_and_bm25_from_zero() -> None:
    channels = {"bm25": np.array([4.0, 2.0, NAN]), "e5": np.array([0.8, 0.9, 0.7])}
    fused = fuse_weighted(channels, {"bm25": 1.0, "e5": 1.0})
    # bm25: 4 -> 1, 2 -> 0.5, missing -> 0;  e5: min-max over 0.7..0.9
    assert fused == pytest.approx([(1 + 0.5) / 2, (0.5 + 1) / 2, (0 + 0) / 2])


def test_a_channel_with_one_candidate_still_counts() -> None:
    fused = fuse_weighted({"bm25": np.array([NAN, 2.5])}, {"bm25": 1.0})
    assert list(fused) == [0.0, 1.0]


def test_unknown_fusion_lists_the_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="choose one of: rrf, weighted"):
        get_fusion("magic")


def test_coverage_counts_the_question_terms_a_chunk_has(tmp_path) -> None:
    docs = [
        ["ridge", "ridge", "penalti"],  # 0: one term, repeated
        ["ridge", "multicollinear"],  # 1: both
        ["lasso", "penalti"],  # 2: neither
        ["l2", "multicollinear"],  # 3: both, the first in another form
        ["regular", "penalti"],  # 4: one word of the two-word form only
    ]
    build_bm25(docs, tmp_path)
    index = LexicalIndex.load(tmp_path)
    ridge = {("ridge",), ("l2", "regular")}  # a concept: one word, or two words together
    terms = [ridge, {("multicollinear",)}, {("bake",)}]  # "bake" is in no chunk
    assert index.coverage(terms, np.arange(5)).tolist() == [0.5, 1.0, 0.0, 0.5, 0.0]
    assert index.coverage(terms, np.array([3, 0])).tolist() == [0.5, 0.5]
    assert index.coverage([], np.arange(5)).tolist() == [0.0] * 5


def test_a_glossary_form_counts_only_when_all_its_words_are_there() -> None:
    terms = topic_terms(
        "how does batch normalization help",
        load_glossary().expand("how does batch normalization help"),
    )
    assert {("batch", "normal"), ("bn",)} <= next(t for t in terms if ("bn",) in t)
    assert coverage(terms, tokenize("a bigger batch size helps")) == 0.5  # "batch" alone
    assert coverage(terms, tokenize("batch normalization helps")) == 1.0
    assert coverage(terms, tokenize("BN helps")) == 1.0


def test_coverage_is_blended_in_only_when_bm25_is_fused_with_others(
    notes, tmp_path, fake_settings
) -> None:
    build_index(notes, tmp_path / "index", fake_settings)
    question = "does ridge help with multicollinearity"

    def ranking(**changes):
        settings = replace(fake_settings, **changes)
        answer = Library(notes, tmp_path / "index", settings).open().search(question, 10)
        return [(h.chunk.id, round(h.score, 6)) for h in answer.hits]

    assert ranking(coverage_weight=0.0) != ranking(coverage_weight=1.0)
    for alone in ({"lexical": False}, {"models": ()}):  # one channel stays itself
        assert ranking(coverage_weight=0.0, **alone) == ranking(coverage_weight=1.0, **alone)


def test_chinese_words_no_note_has_do_not_count_against_a_question() -> None:
    question = "过拟合适合用在什么数据上 quokka"
    terms = topic_terms(question, load_glossary().expand(question))
    kept = informative_terms(terms, {"适合"}.__contains__)  # the notes' words
    words = [next(iter(t))[0] for t in kept if len(t) == 1]
    assert any(("过拟合",) in t for t in kept)  # glossary concepts stay
    assert any(("数据",) in t for t in kept)
    assert "适合" in words  # a Chinese word the notes have stays
    assert "quokka" in words  # an English word no note has still counts against
    assert "用" in [next(iter(t))[0] for t in terms] and "用" not in words  # this one goes


def test_a_chinese_word_chinese_notes_never_use_counts_against_the_question(tmp_path) -> None:
    """Notes written in Chinese that never say 护照 are not about passports; notes in
    English would say it in English, so there the word says nothing."""
    chinese = {
        f"笔记{i}.md": f"# 主题{i}\n\n## 过期数据\n\n缓存里的数据过期以后需要重新加载，第{i}节。\n"
        for i in range(3)
    }
    english = {
        f"note{i}.md": f"# Topic {i}\n\n## Stale data\n\nCached data that 过期 is loaded again.\n"
        for i in range(3)
    }
    bm25 = Settings(models=(), rerank="none")
    features = {}
    for name, notes in (("zh", chinese), ("en", english)):
        folder = tmp_path / name
        folder.mkdir()
        for file, text in notes.items():
            (folder / file).write_text(text, encoding="utf-8")
        library = Library(folder, tmp_path / f"index-{name}", bm25)
        library.build()
        features[name] = library.open().search("护照过期了怎么续办", 3).features
    # 护照 and 续办 are in no note of either folder; 过期 is in both.
    assert features["zh"]["coverage"] == pytest.approx(1 / 3)
    assert features["zh"]["absent"] == pytest.approx(2 / 3)
    assert features["en"]["coverage"] == 1.0
    assert features["en"]["absent"] == 0.0


def test_chinese_words_no_note_has_count_when_the_notes_are_chinese() -> None:
    question = "过拟合适合用在什么数据上 quokka"
    terms = topic_terms(question, load_glossary().expand(question))
    kept = informative_terms(terms, {"适合"}.__contains__, chinese_notes=True)
    assert "用" in [next(iter(t))[0] for t in kept if len(t) == 1]


def test_the_decline_model_is_read_from_its_data_file_and_weighs_evidence_as_it_should(
    tmp_path,
) -> None:
    """Each language has its own bias (its threshold is folded in, so 0.5 reads the same in
    both); more of the question found, or a topic (or a named thing) no note mentions,
    moves the probability the right way."""
    assert set(DEFAULT_MODEL.biases) == {"en", "zh"} and DEFAULT_MODEL.threshold == 0.5
    base = {"minilm_gap": 0.3, "e5_gap": 0.06, "coverage": 0.5, "absent": 0.0}
    for lang in ("en", "zh"):
        p = DEFAULT_MODEL.probability(base, lang)
        assert DEFAULT_MODEL.probability({**base, "coverage": 1.0}, lang) > p
        assert DEFAULT_MODEL.probability({**base, "absent": 1.0}, lang) < p
        assert DEFAULT_MODEL.probability({**base, "e5_gap": 0.12}, lang) > p
        assert DEFAULT_MODEL.probability({**base, "absent_named": 1.0}, lang) < p
    bad = tmp_path / "confidence.json"
    bad.write_text('{"format": "qa-confidence", "version": 1, "weights": {"coverage": "x"}}')
    with pytest.raises(ValueError, match="table of numbers"):
        load_model(bad)
