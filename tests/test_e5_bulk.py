"""e5's bulk path (torch bfloat16, padded batches) against its ORT path, and which one a
call takes."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.models import e5_bulk
from qa.models.e5_onnx import E5Onnx

ROOT = Path(__file__).resolve().parent.parent


def _passages() -> list[str]:
    """Real passages and sentence units, English and Chinese, short and long (one past
    the 510-token window)."""
    english = (ROOT / "corpus" / "mle-basics.md").read_text(encoding="utf-8")
    chinese = (ROOT / "tests" / "corpus_mixed" / "推荐系统笔记.md").read_text(encoding="utf-8")
    return [
        english[:900],
        chinese[:600],
        english[2000:2300],
        "Dropout randomly zeroes activations during training.",
        "召回阶段从海量物品中筛选候选集。",
        "BN",
        chinese[:1400],  # > 510 tokens: two windows, averaged by length
    ]


@pytest.fixture(scope="module")
def e5() -> E5Onnx:
    return E5Onnx()


def test_bulk_vectors_match_ort_in_one_batch_of_mixed_lengths(
    e5: E5Onnx, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = _passages()
    assert len(e5.token_ids(texts[-1], "passage: ")) > 510
    ort = e5.embed(texts, "passage: ", parallel=False)
    monkeypatch.setattr(e5_bulk, "BATCH_TOKENS", 10**6)  # every window in one padded batch
    bulk = e5_bulk.E5Bulk(e5)
    assert len(e5_bulk.batches([600, 9, 300, 4])) == 1
    windows = [
        [
            ([e5.bos, *ids[s : s + 510], e5.eos], max(len(ids[s : s + 510]), 1))
            for s in range(0, max(len(ids), 1), 510)
        ]
        for ids in (e5.token_ids(t, "passage: ") for t in texts)
    ]
    seen: list[int] = []
    got = bulk.embed(windows, progress=seen.append, threads=2)
    assert sum(seen) == len(texts)
    cosine = (got * ort).sum(axis=1)
    assert cosine.min() >= 0.9995, cosine
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # each text alone gives the vector it gets in the batch
    alone = bulk.embed(windows[3:4])
    assert float(alone[0] @ got[3]) > 0.99999


def test_batches_hold_similar_lengths_within_the_budget() -> None:
    lengths = [30, 500, 32, 31, 300, 29, 600]
    plan = e5_bulk.batches(lengths)
    assert sorted(i for batch in plan for i in batch) == list(range(len(lengths)))
    assert plan[0] == [6]  # longer than the budget allows twice: alone, first
    for batch in plan:
        assert (
            len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= e5_bulk.BATCH_TOKENS
        )
    # longest first; 500 and 300 do not fit together in 640 padded positions
    assert plan == [[6], [1], [4, 2], [3, 0, 5]]


def test_a_large_call_takes_the_bulk_path_only_where_bf16_is_native(
    e5: E5Onnx, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = _passages()
    ort = e5.embed(texts, "passage: ", parallel=False)
    monkeypatch.setattr(e5_bulk, "BULK_MIN_CHARS", 0)
    monkeypatch.setattr(e5_bulk, "native_bf16", lambda: False)
    assert e5.bulk() is None
    assert np.array_equal(e5.embed(texts, "passage: "), ort)  # ORT, text by text
    monkeypatch.setattr(e5_bulk, "native_bf16", lambda: True)
    bulk = e5.embed(texts, "passage: ")
    assert not np.array_equal(bulk, ort)  # another engine ran...
    assert (bulk * ort).sum(axis=1).min() >= 0.9995  # ...to the same vectors
    # questions stay on ORT, however many
    assert np.array_equal(e5.embed_queries(texts), e5.embed(texts, "query: ", parallel=False))
    monkeypatch.setattr(e5_bulk, "BULK_MIN_CHARS", sum(map(len, texts)) + 1)
    assert np.array_equal(e5.embed(texts, "passage: "), ort)  # too little to pay for torch


def test_a_question_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from qa.models.encoders import get_encoder\n"
        "e5 = get_encoder('e5')\n"
        "e5.embed_queries(['what is dropout'])\n"
        "e5.embed_passages(['a short passage', 'another'])\n"
        "print('torch' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert run.stdout.strip() == "False"
