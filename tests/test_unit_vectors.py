"""Sentence-unit vectors: embedded once at build time, so that a question only computes
dot products to mark the sentences that answer (qa.store.unit_vectors, qa.retrieve.answer_span)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEncoder

from qa.library import Library
from qa.retrieve.answer_span import SpanContext, split_units
from qa.retrieve.confidence import topic_terms
from qa.settings import Settings
from qa.store.build import build_index
from qa.store.index import Index, IndexCorrupt, current_generation
from qa.store.unit_vectors import unit_key

DROPOUT = """# Deep learning

## Dropout

Dropout is a regularization technique for neural networks. Dropout is applied during
training only. Dropout helps because it stops units from co-adapting.

## 正则化

L1 正则化让权重变得稀疏。L2 正则化让权重整体变小。L1 和 L2 正则化的区别是 L1 产生稀疏解而 L2 不会。
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "dl.md").write_text(DROPOUT, encoding="utf-8")
    return notes


def manifest_of(index: Path) -> tuple[Path, dict]:
    gen = current_generation(index)
    return gen, json.loads((gen / "manifest.json").read_text(encoding="utf-8"))


def test_a_build_stores_every_unit_vector_as_float16_npy(
    folder: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    report = build_index(folder, tmp_path / "idx", fake_settings)
    gen, manifest = manifest_of(tmp_path / "idx")
    info = manifest["channels"]["fake"]
    units = [u.text for c in Index.load(tmp_path / "idx").chunks for u in split_units(c.text)]
    markable = [u for u in units if not u.startswith("#")]
    assert info["units"] == len(set(markable)) == report.sentences["fake"]
    array = np.load(gen / info["units_file"], allow_pickle=False)
    assert array.dtype == np.float16 and array.shape == (info["units"], 64)
    keys = (gen / info["units_keys_file"]).read_text().split()
    row = keys.index(unit_key("Dropout helps because it stops units from co-adapting."))
    expected = FakeEncoder()._vector("Dropout helps because it stops units from co-adapting.")
    assert np.allclose(array[row], expected, atol=1e-3)


def test_a_rebuild_embeds_only_new_sentences(
    folder: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    build_index(folder, tmp_path / "idx", fake_settings)
    note = folder / "dl.md"
    note.write_text(
        note.read_text(encoding="utf-8").replace("training only.", "training only, never at test."),
        encoding="utf-8",
    )
    FakeEncoder.embedded.clear()
    report = build_index(folder, tmp_path / "idx", fake_settings)
    assert report.sentences["fake"] == 1
    assert "Dropout is applied during\ntraining only, never at test." in FakeEncoder.embedded


def test_a_question_embeds_no_sentence(folder: Path, tmp_path: Path, fake_settings) -> None:
    searcher = Library(folder, tmp_path / "idx", fake_settings).open()
    FakeEncoder.embedded.clear()
    answer = searcher.search("why does dropout help", 3)
    assert FakeEncoder.embedded == []  # only the question was embedded (embed_queries)
    assert answer.hits[0].answer_text == "Dropout helps because it stops units from co-adapting."
    assert "fake" in answer.span_context.views


def test_an_index_without_unit_vectors_still_marks_sentences(
    folder: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    build_index(folder, tmp_path / "idx", fake_settings)
    gen, manifest = manifest_of(tmp_path / "idx")
    for key in ("units_file", "units_keys_file", "units"):
        del manifest["channels"]["fake"][key]
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    searcher = Library(folder, tmp_path / "idx", fake_settings).open()
    assert searcher.index.unit_vectors == {}
    answer = searcher.search("why does dropout help", 3)
    assert answer.span_context.views == {}  # scored without the dense features
    assert answer.hits[0].answer_text == "Dropout helps because it stops units from co-adapting."


def test_a_damaged_unit_vector_file_is_a_one_line_error(
    folder: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    build_index(folder, tmp_path / "idx", fake_settings)
    gen, manifest = manifest_of(tmp_path / "idx")
    path = gen / manifest["channels"]["fake"]["units_file"]
    good = path.read_bytes()
    np.save(path, np.zeros((3, 64), dtype=np.float64), allow_pickle=False)
    with pytest.raises(IndexCorrupt, match=r"unit vectors of the fake channel .* float64"):
        Index.load(tmp_path / "idx")
    path.write_bytes(good[:200])
    with pytest.raises(IndexCorrupt, match="not as long as its header says"):
        Index.load(tmp_path / "idx")


def chinese(question: str) -> SpanContext:
    return SpanContext(question, "zh", topic_terms(question, None), {})


def test_a_chinese_why_question_picks_the_yinwei_sentence_over_more_terms() -> None:
    text = (
        "梯度消失让深层网络的训练变慢。残差连接有效，因为梯度可以直接流过捷径。"
        "残差连接常见于ResNet。"
    )
    units = chinese("残差连接为什么有效").units(text)
    assert units[0].text == "残差连接有效，因为梯度可以直接流过捷径。"


def test_a_chinese_difference_question_picks_the_sentence_with_both_terms() -> None:
    text = (
        "L1 正则化让权重变得稀疏。L2 正则化让权重整体变小。"
        "L1 和 L2 正则化的区别是 L1 产生稀疏解而 L2 不会。"
    )
    units = chinese("L1 和 L2 正则化有什么区别").units(text)
    assert units[0].text == "L1 和 L2 正则化的区别是 L1 产生稀疏解而 L2 不会。"
