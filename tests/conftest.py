"""Shared fixtures: a small fake encoder for plumbing tests, and real indexes for quality tests.

The fake encoder hashes tokens into a small vector: deterministic, instant, and it counts
what it embeds, so tests can check that a rebuild re-embeds only what changed. Tests
about retrieval quality use the real bundled models instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from qa.models.encoders import register_encoder
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "corpus"
MIXED = ROOT / "tests" / "corpus_mixed"


class FakeEncoder:
    """Bag of hashed tokens; texts sharing words get similar vectors."""

    name = "fake"
    model_id = "fake:hashing-64"
    dim = 64
    multilingual = True
    embedded: ClassVar[list[str]] = []  # every passage ever embedded, across instances

    def _vector(self, text: str) -> np.ndarray:
        from qa.lang.text import tokenize

        v = np.zeros(self.dim, dtype=np.float32)
        for token in tokenize(text) or ["\x00"]:
            h = int(hashlib.md5(token.encode()).hexdigest(), 16)
            v[h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_passages(self, texts: Sequence[str], progress=None) -> np.ndarray:
        FakeEncoder.embedded.extend(texts)
        if progress:
            progress(len(texts))
        return np.array([self._vector(t) for t in texts], dtype=np.float32).reshape(-1, self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self._vector(t) for t in texts], dtype=np.float32)

    def warm_up(self) -> None:
        self.embed_queries(["warm up"])


register_encoder("fake", FakeEncoder)

WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:
    # Under pytest-xdist each worker is one of the cores: its builds and searches run
    # their model work on one thread, not one per core (qa.threads).
    import qa.threads

    qa.threads.cpu_threads = lambda: 1

FAKE = Settings(models=("fake",), weights={"bm25": 1.0, "fake": 1.0})


@pytest.fixture(scope="session", autouse=True)
def private_user_dirs(tmp_path_factory: pytest.TempPathFactory):
    """Question history and cached indexes go to a folder of the test run, never to the
    home of whoever runs the tests (child processes inherit it too)."""
    import os

    home = tmp_path_factory.mktemp("user-dirs")
    saved = {k: os.environ.get(k) for k in ("XDG_STATE_HOME", "XDG_CACHE_HOME")}
    os.environ["XDG_STATE_HOME"] = str(home / "state")
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session", autouse=True)
def no_fsync():
    """os.fsync does nothing in this process: it makes a write survive a power cut, which
    no test can make, and on a disk shared with other work each call waits milliseconds
    (about 16 s of test_security.py's 42 s). kill -9 safety rests on the renames, which
    the tests still exercise; test_index.py::test_a_build_is_fsynced_before_it_is_published
    checks that the build makes its fsync calls, and in the right order. Child processes
    (the kill -9 and watch tests) fsync for real."""
    patch = pytest.MonkeyPatch()
    patch.setattr(os, "fsync", lambda fd: None)
    yield
    patch.undo()


@pytest.fixture
def fake_settings() -> Settings:
    FakeEncoder.embedded.clear()
    return FAKE


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """A writable copy of the bundled notes (without the labelled questions)."""
    folder = tmp_path / "notes"
    shutil.copytree(BUNDLED, folder, ignore=shutil.ignore_patterns("*.jsonl"))
    return folder


def shared_index(tmp_path_factory: pytest.TempPathFactory, name: str, notes: Path) -> Path:
    """``notes`` indexed with the real default models once per test run, however many
    pytest-xdist workers ask: the first builds it under a lock, the others wait and read
    it. Tests only read it (copy it with shutil.copytree to change it)."""
    from filelock import FileLock

    from qa.store.build import build_index
    from qa.store.index import CURRENT

    root = tmp_path_factory.getbasetemp()
    if WORKER:
        root = root.parent  # the folder all workers of this run share
    folder = root / f"shared-{name}-index"
    with FileLock(f"{folder}.lock"):
        if not (folder / CURRENT).exists():
            build_index(notes, folder, Settings())
    return folder


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled notes indexed with the real default models (built once per test run)."""
    return shared_index(tmp_path_factory, "bundled", BUNDLED)


@pytest.fixture(scope="session")
def bundled_searcher(bundled_index: Path):
    from qa.retrieve.search import Searcher
    from qa.store.index import Index

    return Searcher(Index.load(bundled_index), Settings())


@pytest.fixture(scope="session")
def mixed_searcher(tmp_path_factory: pytest.TempPathFactory):
    from qa.retrieve.search import Searcher
    from qa.store.index import Index

    return Searcher(Index.load(shared_index(tmp_path_factory, "mixed", MIXED)), Settings())


@pytest.fixture(autouse=True)
def private_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Question history (qa ask and the chat record questions) goes to a temporary state
    folder, never the user's own."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
