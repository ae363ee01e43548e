"""A build in two phases: BM25 and the first model published first, the later models
added in a second generation; search uses what is there, and a build killed between
the two leaves an index that answers and that the next build completes.

Two fake models stand for MiniLM and e5 (the phases are plumbing, not quality)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FakeEncoder
from textual.pilot import Pilot

from qa.library import Library, Policy
from qa.models.encoders import register_encoder
from qa.models.pool import POOL
from qa.settings import Settings
from qa.store.build import build_index, embed_text
from qa.store.index import Index, current_generation

TESTS = Path(__file__).resolve().parent


class SlowFake(FakeEncoder):
    """A second fake model (the one filled in later), with vectors of its own."""

    name = "slowfake"
    model_id = "fake:hashing-64-salted"

    def _vector(self, text: str) -> np.ndarray:
        v = super()._vector(text)
        salt = int(hashlib.md5(text.encode()).hexdigest()[:8], 16) % self.dim
        return np.roll(v, salt)


register_encoder("slowfake", SlowFake)

TWO = Settings(models=("fake", "slowfake"), weights={"bm25": 1.0, "fake": 1.0, "slowfake": 1.0})


@pytest.fixture
def two_models() -> Settings:
    FakeEncoder.embedded.clear()
    return TWO


def test_the_first_generation_answers_without_the_later_model(
    notes: Path, tmp_path: Path, two_models: Settings
) -> None:
    idx = tmp_path / "idx"
    seen = {}

    def published(generation: str) -> None:
        # The build holds its lock and is about to embed slowfake: open it as any
        # other front end would.
        lib = Library(notes, idx, two_models)
        searcher = lib.open(Policy.FRESH)  # fresh: its build is filling it in
        answer = searcher.search("what does dropout do", spans=False)
        seen.update(
            generation=generation,
            folder=searcher.index.folder.name,
            filling=searcher.filling,
            lib_filling=lib.filling(),
            channels=answer.channels,
            heading=answer.hits[0].chunk.heading if answer.hits else None,
            vectors=set(searcher.index.vectors),
            units=set(searcher.index.unit_vectors),
            built=lib.last_build,
        )

    report = build_index(notes, idx, two_models, published=published)
    assert seen["folder"] == seen["generation"] == report.first_generation
    assert seen["built"] is None  # nobody started a second build meanwhile
    assert seen["filling"] == seen["lib_filling"] == ("slowfake",)
    assert seen["vectors"] == {"fake"}
    assert seen["units"] == set()  # the first model's sentence units wait for the second phase
    assert seen["channels"] == ("bm25", "fake")
    assert seen["heading"] is not None and "ropout" in seen["heading"]
    # The second generation has everything and names nothing as filling.
    assert report.generation != report.first_generation
    index = Index.load(idx)
    assert index.folder.name == report.generation
    assert set(index.vectors) == {"fake", "slowfake"}
    assert set(index.unit_vectors) == {"fake", "slowfake"}
    assert index.manifest.filling == ()
    assert not (idx / report.first_generation).exists()  # nobody reads it any more
    searcher = Library(notes, idx, two_models).open(Policy.EXISTING)
    assert searcher.filling == ()
    answer = searcher.search("what does dropout do", channels=["slowfake"], spans=False)
    assert answer.channels == ("slowfake",) and answer.hits
    # Each model embedded each chunk once across both phases (and, apart from those, only
    # sentence units, each once per model).
    encoders = [POOL.get(model) for model in two_models.models]
    passages = {embed_text(c, e, index.glossary) for c in index.chunks for e in encoders}
    assert sum(t in passages for t in FakeEncoder.embedded) == 2 * len(index.chunks)
    units = Counter(t for t in FakeEncoder.embedded if t not in passages)
    assert units and max(units.values()) <= 2


def test_only_the_missing_channel_cannot_be_asked_alone(
    notes: Path, tmp_path: Path, two_models: Settings
) -> None:
    errors = []

    def published(generation: str) -> None:
        searcher = Library(notes, tmp_path / "idx", two_models).open(Policy.EXISTING)
        with pytest.raises(ValueError) as err:
            searcher.search("dropout", channels=["slowfake"])
        errors.append(str(err.value))

    build_index(notes, tmp_path / "idx", two_models, published=published)
    assert errors == ["no retrieval channel selected (the slowfake vectors are being filled in)"]


def test_a_small_update_is_published_once(
    notes: Path, tmp_path: Path, two_models: Settings
) -> None:
    idx = tmp_path / "idx"
    build_index(notes, idx, two_models)
    note = notes / "ml-interview-prep.md"
    note.write_text(note.read_text(encoding="utf-8") + "\n### New\n\nEarly stopping.\n", "utf-8")
    calls: list[str] = []
    report = build_index(notes, idx, two_models, published=calls.append)
    assert calls == [] and report.first_generation == ""
    assert report.embedded == {"fake": 1, "slowfake": 1}


CHILD = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
import test_build_phases
from qa.store.build import build_index
def published(generation):
    print(generation, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
build_index(Path(sys.argv[1]), Path(sys.argv[2]), test_build_phases.TWO, published=published)
"""


def test_a_build_killed_between_the_phases_leaves_an_index_that_answers(
    notes: Path, tmp_path: Path, two_models: Settings
) -> None:
    idx = tmp_path / "idx"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(notes), str(idx), str(TESTS)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    first = child.stdout.split()[0]
    assert current_generation(idx).name == first
    assert [p.name for p in idx.iterdir() if p.name.startswith(".gen-")] == []

    lib = Library(notes, idx, two_models)
    searcher = lib.open(Policy.EXISTING)
    assert searcher.filling == ("slowfake",)
    assert searcher.search("what does dropout do", spans=False).hits
    fresh = lib.freshness()
    assert not fresh.fresh
    assert fresh.reason == "the slowfake vectors were never filled in (a build stopped)"

    # The next open builds what is missing, reusing BM25 and the first model's vectors.
    FakeEncoder.embedded.clear()
    searcher = lib.open(Policy.FRESH)
    assert lib.last_build is not None
    assert lib.last_build.embedded == {"fake": 0, "slowfake": len(searcher.index.chunks)}
    assert searcher.filling == () and set(searcher.index.vectors) == {"fake", "slowfake"}
    assert lib.freshness().fresh
    # Only the second model's passages were embedded, and the sentence units of both
    # models, once each (the first model's wait for the second phase, which never ran).
    slow = POOL.get("slowfake")
    passages = {embed_text(c, slow, searcher.index.glossary) for c in searcher.index.chunks}
    assert sum(t in passages for t in FakeEncoder.embedded) == len(searcher.index.chunks)
    units = Counter(t for t in FakeEncoder.embedded if t not in passages)
    assert units and set(units.values()) == {2}
    assert set(searcher.index.unit_vectors) == {"fake", "slowfake"}


# ------------------------------------------------------------------ the chat app


class GatedFake(SlowFake):
    """The later model, whose passages wait until the test lets them through."""

    name = "gatedfake"
    model_id = "fake:hashing-64-gated"
    gate = threading.Event()

    def embed_passages(self, texts: Sequence[str], progress: Any = None) -> np.ndarray:
        assert GatedFake.gate.wait(60), "the test never opened the gate"
        return super().embed_passages(texts, progress)


register_encoder("gatedfake", GatedFake)


async def _until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the app did not get there in time"
        await pilot.pause(0.02)


def test_the_chat_answers_and_says_so_while_the_later_model_fills_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.tui.app import QAApp
    from qa.tui.widgets import AnswerCard

    notes = tmp_path / "notes"
    shutil.copytree(TESTS / "fixtures" / "small", notes, ignore=shutil.ignore_patterns("*.jsonl"))
    monkeypatch.setattr("qa.store.build.PHASE_MIN_TEXTS", 1)  # the fixture has 5 sections
    GatedFake.gate.clear()
    settings = Settings(models=("fake", "gatedfake"))
    app = QAApp(notes, tmp_path / "idx", settings, freshness_seconds=0)

    async def run() -> None:
        async with app.run_test(size=(110, 36)) as pilot:
            await _until(
                pilot, lambda: app.index.searcher is not None and not app.index.loading_channels
            )
            assert app.index.building and app.index.searcher is not None
            assert app.index.searcher.filling == ("gatedfake",)
            status = app.chat.status_content().plain
            assert "bm25 ✓ fake ✓ gatedfake filling in …" in status, status
            await pilot.press(*"置信区间是什么意思", "enter")
            await _until(pilot, lambda: any(c.answer for c in app.chat.query(AnswerCard)))
            card = app.chat.query(AnswerCard).first()
            assert card.heading == "置信区间（Confidence Interval）"
            assert card.answer is not None and card.answer.channels == ("bm25", "fake")
            GatedFake.gate.set()
            await _until(pilot, lambda: not app.index.building)
            assert app.index.searcher.filling == ()
            await _until(pilot, lambda: not app.index.loading_channels)
            assert "bm25 ✓ fake ✓ gatedfake ✓" in app.chat.status_content().plain

    try:
        asyncio.run(run())
    finally:
        GatedFake.gate.set()
