"""qa.library: the one way every front end opens, builds and reloads an index."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import FAKE, FakeEncoder

from qa.library import Library, Policy
from qa.models.encoders import register_encoder
from qa.models.pool import ModelPool
from qa.settings import Settings
from qa.store.index import IndexIncompatible, IndexMissing


def small_notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text(
        "# Dropout\n\nDropout randomly zeroes activations while training.\n\n"
        "# Overfitting\n\nOverfitting is fitting noise in the training data.\n",
        encoding="utf-8",
    )
    return folder


def touch(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))


def test_existing_never_builds(tmp_path: Path) -> None:
    lib = Library(small_notes(tmp_path), tmp_path / "index", FAKE)
    with pytest.raises(IndexMissing):
        lib.open(Policy.EXISTING)
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_fresh_builds_when_missing_and_when_notes_change(tmp_path: Path) -> None:
    notes = small_notes(tmp_path)
    lib = Library(notes, tmp_path / "index", FAKE)
    reasons: list[str] = []
    searcher = lib.open(Policy.FRESH, on_build=reasons.append)
    assert reasons == ["there is no index yet"] and lib.last_build is not None
    assert searcher.search("dropout").hits[0].chunk.heading == "Dropout"
    lib.open(Policy.FRESH, on_build=reasons.append)
    assert len(reasons) == 1 and lib.last_build is None  # fresh: nothing to do
    touch(notes / "b.md", "# Batch norm\n\nBatch norm normalises activations per batch.\n")
    searcher = lib.open(Policy.FRESH, on_build=reasons.append)
    assert len(reasons) == 2
    assert any(c.heading == "Batch norm" for c in searcher.index.chunks)


def test_present_reports_changed_notes_instead_of_building(tmp_path: Path) -> None:
    notes = small_notes(tmp_path)
    lib = Library(notes, tmp_path / "index", FAKE)
    lib.open(Policy.PRESENT)
    assert lib.last_build is not None  # missing: built
    touch(notes / "b.md", "# Batch norm\n\nBatch norm normalises activations per batch.\n")
    searcher = lib.open(Policy.PRESENT)
    assert lib.last_build is None
    assert not any(c.heading == "Batch norm" for c in searcher.index.chunks)
    assert not lib.freshness().fresh


def built_by_an_older_qa(tmp_path: Path) -> tuple[Library, Path]:
    """An index whose manifest says an older chunker cut it; and that manifest's path."""
    import json

    lib = Library(small_notes(tmp_path), tmp_path / "index", FAKE)
    lib.open(Policy.PRESENT)
    path = (lib.generation() or Path()) / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["index_settings"]["chunker"] = "sections-v0"
    path.write_text(json.dumps(data), encoding="utf-8")
    return lib, path


def test_present_rebuilds_an_index_an_older_qa_built(tmp_path: Path) -> None:
    """After an upgrade whose chunker cuts notes differently, the chat (PRESENT) rebuilds
    by itself, as `qa ask` does, instead of answering from the old sections; the notes
    themselves did not change, so nothing is embedded again."""
    lib, _ = built_by_an_older_qa(tmp_path)
    stale = lib.freshness()
    assert not stale.fresh and not stale.notes and stale.reason.endswith(": chunker")
    reasons: list[str] = []
    lib.open(Policy.PRESENT, on_build=reasons.append)
    assert reasons == [stale.reason]
    assert lib.last_build is not None and lib.last_build.embedded.get("fake", 0) == 0
    assert lib.freshness().fresh


def test_present_opens_what_is_there_while_another_process_builds(tmp_path: Path) -> None:
    """The chat does not queue a second rebuild behind one already running (qa watch after
    an upgrade): it opens the index there is, and picks the new one up when published."""
    from qa.store.index import build_lock

    lib, path = built_by_an_older_qa(tmp_path)
    with build_lock(lib.index_dir, wait=False):  # as another process's build holds it
        searcher = lib.open(Policy.PRESENT)
    assert lib.last_build is None and searcher.index.folder == path.parent


def test_an_index_of_older_settings_does_not_cover_a_request(tmp_path: Path) -> None:
    """`qa eval --compare` reuses the main index when it covers the settings asked for: an
    index built before a setting existed (here: how mined pairs are chosen) does not."""
    import json

    lib = Library(small_notes(tmp_path), tmp_path / "index", FAKE)
    lib.open()
    assert lib.freshness(covering=True).fresh
    path = (lib.generation() or Path()) / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["index_settings"]["mining"]
    path.write_text(json.dumps(data), encoding="utf-8")
    for covering in (False, True):
        stale = lib.freshness(covering=covering)
        assert not stale.fresh and stale.reason.endswith(": mining"), stale.reason


def test_a_damaged_index_is_rebuilt_in_full(tmp_path: Path) -> None:
    lib = Library(small_notes(tmp_path), tmp_path / "index", FAKE)
    lib.open()
    (lib.generation() or Path()).joinpath("sections.jsonl").write_text("{not json\n")
    for policy in (Policy.FRESH, Policy.PRESENT):
        searcher = lib.open(policy)
        assert lib.last_build is not None
        assert searcher.search("overfitting").hits[0].chunk.heading == "Overfitting"
        (lib.generation() or Path()).joinpath("sections.jsonl").write_text("{not json\n")


def test_an_index_of_other_models_is_refused_not_rebuilt(tmp_path: Path) -> None:
    notes = small_notes(tmp_path)
    Library(notes, tmp_path / "index", FAKE).open()
    before = (tmp_path / "index" / "CURRENT").read_text()
    other = Library(notes, tmp_path / "index", Settings())
    with pytest.raises(IndexIncompatible):
        other.open(Policy.FRESH)
    assert (tmp_path / "index" / "CURRENT").read_text() == before


def test_configure_keeps_the_models_an_index_was_built_with(tmp_path: Path) -> None:
    notes = small_notes(tmp_path)
    Library(notes, tmp_path / "index", FAKE).open()
    lib = Library.configure(notes, tmp_path / "index")
    assert lib.settings.models == ("fake",)
    with pytest.raises(ValueError, match="unknown model"):
        Library.configure(notes, tmp_path / "index", model="no-such-model")


def test_reopen_only_when_another_build_made_a_newer_generation(tmp_path: Path) -> None:
    notes = small_notes(tmp_path)
    lib = Library(notes, tmp_path / "index", FAKE)
    searcher = lib.open()
    assert lib.reopen(searcher) is None
    touch(notes / "a.md", "# Dropout\n\nDropout drops units at random.\n")
    Library(notes, tmp_path / "index", FAKE).build()  # as another process would
    newer = lib.reopen(searcher)
    assert newer is not None and newer.index.folder != searcher.index.folder
    assert "at random" in newer.search("dropout").hits[0].chunk.text


def test_each_model_is_loaded_once_for_builds_and_searches(tmp_path: Path) -> None:
    made: list[object] = []

    class Counted(FakeEncoder):
        def __init__(self) -> None:
            made.append(self)

    register_encoder("counted", Counted)
    try:
        settings = Settings(models=("counted",), weights={"bm25": 1.0, "counted": 1.0})
        pool = ModelPool()
        notes = small_notes(tmp_path)
        lib = Library(notes, tmp_path / "index", settings, pool=pool)
        searcher = lib.open()
        searcher.search("dropout")
        touch(notes / "a.md", "# Dropout\n\nDropout drops units at random.\n")
        lib.build()
        again = lib.reopen(searcher)
        assert again is not None
        again.search("dropout")
        assert len(made) == 1
    finally:
        register_encoder("counted", FakeEncoder)
