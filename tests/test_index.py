"""The index on disk: round trip, incremental builds, atomic swaps and damage."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEncoder

from qa.settings import Settings
from qa.store.build import build_index
from qa.store.index import (
    CURRENT,
    Index,
    IndexCorrupt,
    IndexIncompatible,
    IndexMissing,
    IndexOutdated,
    check_compatible,
    check_freshness,
    current_generation,
    read_manifest,
)
from qa.store.notes import CorpusError


def test_save_load_round_trip(notes: Path, tmp_path: Path, fake_settings: Settings) -> None:
    report = build_index(notes, tmp_path / "idx", fake_settings)
    index = Index.load(tmp_path / "idx")
    assert len(index.chunks) == report.chunks
    assert set(index.channels) == {"bm25", "fake"}
    # Vectors on disk are exactly what the encoder gives for each chunk's text.
    stored = index.vectors["fake"].reconstruct_n(0, len(index.chunks))
    expected = FakeEncoder().embed_passages([c.embed_text() for c in index.chunks])
    np.testing.assert_allclose(stored, expected, atol=1e-6)
    # Chunks survive the JSON round trip unchanged.
    gen = current_generation(tmp_path / "idx")
    lines = (gen / "sections.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [c.to_json() for c in index.chunks]
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["channels"]["fake"]["model_id"] == "fake:hashing-64"
    assert not list(gen.rglob("*.pkl")) and not list(gen.rglob("*.pickle"))


def test_identical_sections_in_two_files_are_one_chunk(
    notes: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    build_index(notes, tmp_path / "idx", fake_settings)
    index = Index.load(tmp_path / "idx")
    bn = [c for c in index.chunks if c.heading.startswith("6. What is Batch Norm")]
    assert len(bn) == bn[0].parts >= 2  # each window of the section once
    for chunk in bn:
        assert {loc.file for loc in chunk.locations} == {
            "mle-basics.md",
            "mle-basics-with-zh-questions.md",
        }


def test_incremental_build_embeds_only_changed_sections(
    notes: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    idx = tmp_path / "idx"
    first = build_index(notes, idx, fake_settings)
    assert first.embedded["fake"] == first.chunks
    FakeEncoder.embedded.clear()

    note = notes / "ml-interview-prep.md"
    text = note.read_text(encoding="utf-8")
    note.write_text(
        text.replace(
            "Both measure how a change in one variable affects the other",
            "Both measure how one variable moves with another",
        ),
        encoding="utf-8",
    )
    (notes / "new.md").write_text("# Brand new\n\nA fresh section about gradient clipping.\n")
    second = build_index(notes, idx, fake_settings)

    assert second.embedded["fake"] == 2
    # Two sections, and of their sentence units only the two new ones (qa.store.unit_vectors).
    assert second.sentences["fake"] == 2
    assert len(FakeEncoder.embedded) == 4
    assert any("one variable moves with another" in t for t in FakeEncoder.embedded)
    assert any("gradient clipping" in t for t in FakeEncoder.embedded)
    assert (second.added, second.changed, second.removed) == (1, 1, 0)
    index = Index.load(idx)
    assert any("gradient clipping" in c.text for c in index.chunks)

    (notes / "new.md").unlink()
    third = build_index(notes, idx, fake_settings)
    assert (third.added, third.changed, third.removed, third.embedded["fake"]) == (0, 0, 1, 0)
    assert third.sentences["fake"] == 0


def test_freshness_notices_edits_and_ignores_touches(
    notes: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    idx = tmp_path / "idx"
    build_index(notes, idx, fake_settings)
    assert check_freshness(notes, idx, fake_settings).fresh
    note = notes / "mle-basics.md"
    note.touch()  # new mtime, same content
    assert check_freshness(notes, idx, fake_settings).fresh
    note.write_text(note.read_text(encoding="utf-8") + "\n## Added\n\nMore.\n", encoding="utf-8")
    status = check_freshness(notes, idx, fake_settings)
    assert not status.fresh and "mle-basics.md changed" in status.reason


def test_failed_build_leaves_the_previous_index_in_use(
    notes: Path, tmp_path: Path, fake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = tmp_path / "idx"
    build_index(notes, idx, fake_settings)
    before = (idx / CURRENT).read_text()
    (notes / "extra.md").write_text("# Extra\n\nSomething new.\n")

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("qa.store.build.build_bm25", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        build_index(notes, idx, fake_settings)
    assert (idx / CURRENT).read_text() == before
    assert not [p for p in idx.iterdir() if p.name.endswith(".tmp")]
    assert not any("Something new" in c.text for c in Index.load(idx).chunks)


def test_empty_and_missing_corpus(tmp_path: Path, fake_settings: Settings) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no Markdown notes"):
        build_index(tmp_path / "empty", tmp_path / "idx", fake_settings)
    with pytest.raises(CorpusError, match="not found"):
        build_index(tmp_path / "missing", tmp_path / "idx", fake_settings)


def test_unreadable_note_is_reported_and_the_rest_indexed(
    notes: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    (notes / "broken.md").write_bytes(b"# Broken\n\xff\xfe\xfd\xfc")
    report = build_index(notes, tmp_path / "idx", fake_settings)
    assert [str(p) for p in report.problems] == ["broken.md: not valid UTF-8 (byte 9); skipped"]
    assert report.notes == 5


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexMissing, match="run `qa build`"):
        Index.load(tmp_path / "nothing")


def test_truncated_vectors_file_is_reported(
    notes: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    idx = tmp_path / "idx"
    build_index(notes, idx, fake_settings)
    vectors = current_generation(idx) / "vectors.fake.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(IndexCorrupt, match=r"vectors\.fake\.faiss is damaged.*qa build --full"):
        Index.load(idx)


def test_manifest_from_another_version_is_refused(
    notes: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    idx = tmp_path / "idx"
    build_index(notes, idx, fake_settings)
    path = current_generation(idx) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 999
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexIncompatible, match=r"format version 999.*qa build --full"):
        Index.load(idx)


def test_querying_with_another_model_says_to_rebuild(
    notes: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    idx = tmp_path / "idx"
    build_index(notes, idx, fake_settings)
    manifest = Index.load(idx).manifest
    with pytest.raises(IndexIncompatible, match="qa build --model minilm"):
        check_compatible(manifest, Settings(models=("minilm",)))


def test_incremental_build_tokenizes_only_changed_sections(
    notes: Path, tmp_path: Path, fake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.lang.text import PLAIN, BilingualTokenizer

    idx = tmp_path / "idx"
    build_index(notes, idx, fake_settings)
    tokenized: list[str] = []
    tokenize = BilingualTokenizer.tokenize

    def counting(self: BilingualTokenizer, t: str) -> list[str]:
        if self is not PLAIN:  # the index's tokenizer, not the fake encoder's
            tokenized.append(t)
        return tokenize(self, t)

    monkeypatch.setattr(BilingualTokenizer, "tokenize", counting)
    (notes / "new.md").write_text("# 梯度裁剪\n\nA fresh section about gradient clipping.\n")
    build_index(notes, idx, fake_settings)
    assert len(tokenized) == 1 and "gradient clipping" in tokenized[0]
    incremental = Index.load(idx).lexical
    build_index(notes, tmp_path / "full", fake_settings, full=True)
    full = Index.load(tmp_path / "full").lexical
    assert incremental is not None and full is not None
    assert incremental.vocab == full.vocab
    np.testing.assert_allclose(incremental.data, full.data)

    # other words taught to the segmenter (a user glossary) may cut old text differently
    tokenized.clear()
    (notes / "glossary.tsv").write_text("奇异补丁\todd patch\n", encoding="utf-8")
    report = build_index(notes, idx, fake_settings)
    assert len(tokenized) == report.chunks


def test_reused_bm25_tokens_match_what_the_segmenter_now_cuts(tmp_path: Path) -> None:
    """jieba's taught words used to belong to the process: a word taught after a build
    (another notes folder's glossary, say) cut the same text differently under the same
    fingerprint. Now a word taught elsewhere does not reach this index's tokenizer, and a
    word taught to it (its folder's glossary) changes its fingerprint, so the next build
    recuts the tokens recorded under the old cut instead of reusing them."""
    import json
    from dataclasses import replace

    from conftest import FAKE

    from qa.lang.text import BilingualTokenizer

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("# 笔记\n\n## 小节\n\n这个稀罕补钉很有用。\n", encoding="utf-8")
    bm25 = replace(FAKE, models=())
    build_index(notes, tmp_path / "index", bm25)
    elsewhere = BilingualTokenizer(["稀罕补钉"])  # another folder's, in this process
    assert "稀罕补钉" in elsewhere.tokenize("这个稀罕补钉很有用")

    def recorded_and_now() -> tuple[list[list[str]], list[list[str]]]:
        index = Index.load(tmp_path / "index")
        recorded = [
            json.loads(line)["tokens"]
            for line in (index.folder / "bm25.tokens.jsonl").read_text("utf-8").splitlines()
        ]
        assert index.manifest.lexical is not None
        assert index.manifest.lexical.segmenter == index.tokenizer.fingerprint
        return recorded, [index.tokenizer.tokenize(c.lexical_text()) for c in index.chunks]

    (notes / "b.md").write_text("# 其他\n\n别的内容。\n", encoding="utf-8")
    build_index(notes, tmp_path / "index", bm25)  # a.md is unchanged: its tokens are reused
    recorded, now = recorded_and_now()
    assert recorded == now
    assert not any("稀罕补钉" in tokens for tokens in now)

    (notes / "glossary.tsv").write_text("稀罕补钉\todd patch\n", encoding="utf-8")
    build_index(notes, tmp_path / "index", bm25)  # a.md is unchanged, but cut otherwise now
    recorded, now = recorded_and_now()
    assert recorded == now
    assert any("稀罕补钉" in tokens for tokens in now)


def test_the_glossary_is_the_one_the_index_was_built_with(
    notes: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    """The notes folder's glossary.tsv is read by the build and kept in the index; a
    search reads it from there, not from the folder at query time."""
    from qa.library import Library, Policy

    (notes / "glossary.tsv").write_text("奇异补丁\todd patch\n", encoding="utf-8")
    lib = Library(notes, tmp_path / "index", fake_settings)
    lib.build()
    (notes / "glossary.tsv").write_text("别的术语\tanother term\n", encoding="utf-8")
    searcher = lib.open(Policy.EXISTING)
    assert "奇异补丁" in searcher.glossary.expand("what is an odd patch").extra_terms
    forms = {f for c in searcher.glossary.concepts for f in c.forms}
    assert "奇异补丁" in forms and "别的术语" not in forms
    assert "奇异补丁" in searcher.tokenizer.words and "别的术语" not in searcher.tokenizer.words


def test_an_index_cut_by_another_segmenter_is_rebuilt_or_refused(
    notes: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    """The segmenter fingerprint is checked on load: tokens cut by another version of
    the tokenizer (or of jieba) make the index stale, a search refuses it, and the chat
    app's way of opening (Policy.PRESENT) rebuilds it rather than failing."""
    from qa.library import Library, Policy
    from qa.store.index import SEGMENTER_CHANGED, check_freshness, current_generation

    lib = Library(notes, tmp_path / "index", fake_settings)
    lib.build()
    path = current_generation(tmp_path / "index") / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    recorded = data["channels"]["bm25"]["segmenter"]
    data["channels"]["bm25"]["segmenter"] = "jieba+snowball+t2s-v1:0000:" + recorded.split(":")[-1]
    path.write_text(json.dumps(data), encoding="utf-8")
    assert check_freshness(notes, tmp_path / "index", fake_settings).reason == SEGMENTER_CHANGED
    with pytest.raises(IndexOutdated, match="another word segmenter"):
        lib.open(Policy.EXISTING)
    # The chat (PRESENT: an index that is there is used as it is) rebuilds this one, as
    # after an upgrade of qa: the tokens are cut again.
    searcher = lib.open(Policy.PRESENT)
    assert searcher.index.manifest.lexical is not None
    assert searcher.index.manifest.lexical.segmenter == recorded
    assert lib.last_build is not None and lib.last_build.added == 0


def test_the_manifest_round_trips_through_its_json(tmp_path: Path, fake_settings: Settings) -> None:
    from qa.store.manifest import DenseChannel, LexicalChannel, Manifest, manifest_problem

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("# Dropout\n\nDropout zeroes units.\n", encoding="utf-8")
    (notes / "b.md").write_bytes(b"# Title\n\n\x80\x81 not UTF-8\n")
    build_index(notes, tmp_path / "idx", fake_settings)
    gen = current_generation(tmp_path / "idx")
    raw = json.loads((gen / "manifest.json").read_text())
    manifest = read_manifest(gen)
    assert manifest_problem(raw) is None
    assert isinstance(manifest.lexical, LexicalChannel)
    assert set(manifest.dense) == {"fake"} and isinstance(manifest.dense["fake"], DenseChannel)
    assert manifest.dense["fake"].dim == 64 and len(manifest.dense["fake"].centroid) == 64
    assert manifest.models == ("fake",) and manifest.notes["a.md"].sha256
    assert "b.md" in manifest.skipped and manifest.skipped["b.md"].problem
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.to_json() == raw


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads fd paths from /proc")
def test_a_build_is_fsynced_before_it_is_published(
    notes: Path, tmp_path: Path, fake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file and folder of a new generation reaches the disk before the generation is
    renamed into place, CURRENT's new text before it replaces the old, and the index
    folder after that (conftest makes os.fsync a no-op elsewhere; this records it)."""
    import os

    events: list[tuple[str, str]] = []
    monkeypatch.setattr(
        os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
    )
    rename, replace = os.rename, os.replace

    def recording_rename(src, dst):  # type: ignore[no-untyped-def]
        events.append(("rename", str(src)))
        rename(src, dst)

    def recording_replace(src, dst):  # type: ignore[no-untyped-def]
        events.append(("replace", str(dst)))
        replace(src, dst)

    monkeypatch.setattr(os, "rename", recording_rename)
    monkeypatch.setattr(os, "replace", recording_replace)
    idx = (tmp_path / "idx").resolve()
    build_index(notes, idx, fake_settings)

    gen = current_generation(idx)
    (tmp,) = [src for kind, src in events if kind == "rename" and Path(src).parent == idx]
    publish = events.index(("rename", tmp))
    synced_before = {path for kind, path in events[:publish] if kind == "fsync"}
    for path in [*gen.rglob("*"), gen]:
        assert str(tmp / path.relative_to(gen)) in synced_before, path.name
    swap = events.index(("replace", str(idx / CURRENT)))
    assert publish < swap
    synced_then = [Path(path) for kind, path in events[publish:swap] if kind == "fsync"]
    assert [p.name for p in synced_then if p.parent == idx] == [f".{CURRENT}.{os.getpid()}.tmp"]
    assert ("fsync", str(idx)) in events[swap:]
