"""The encoder registry, and the numpy query path against sentence-transformers."""

import numpy as np
import pytest

from qa.bert_numpy import NumpyBert, supports
from qa.encoders import UnknownNameError, bundled_minilm_path, channel_name, get_encoder

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
    ours = NumpyBert(path).encode(TEXTS)
    theirs = SentenceTransformer(str(path), device="cpu").encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(ours, theirs, atol=2e-5)


def test_minilm_passages_match_whichever_path_embeds_them() -> None:
    encoder = get_encoder("minilm")
    few = encoder.embed_passages(TEXTS)  # numpy path (small batch)
    many = encoder.embed_passages(TEXTS * 20)[: len(TEXTS)]  # torch path
    np.testing.assert_allclose(few, many, atol=2e-5)
    assert encoder.embed_queries(TEXTS[:1]).shape == (1, 384)


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
