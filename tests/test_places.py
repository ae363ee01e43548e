"""Where indexes live (user cache, .qa/, the checkout), qa init, qa where, and pruning of
old index generations once no reader holds them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from qa.cli import main
from qa.places import folder_key
from qa.settings import Settings, bundled_corpus, default_index
from qa.store.build import build_index
from qa.store.index import Index, current_generation
from qa.store.leases import held_generations, reader_lease

SMALL = Path(__file__).parent / "fixtures" / "small"


@pytest.fixture
def small(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    shutil.copytree(SMALL, folder)
    return folder


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Cache and state directories of a fresh user, inside the test's folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.delenv("QA_INDEX", raising=False)
    return home


def qa(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith("gen-"))


def test_a_user_folder_is_indexed_in_the_user_cache(small: Path, homes: Path) -> None:
    expected = homes / "cache" / "qa" / "indexes" / folder_key(small)
    assert default_index(small) == expected
    assert default_index(bundled_corpus()) == ROOT / "index"


def test_qa_index_and_the_option_win(small: Path, homes: Path, monkeypatch) -> None:
    monkeypatch.setenv("QA_INDEX", str(homes / "elsewhere"))
    assert default_index(small) == homes / "elsewhere"


def test_qa_init_puts_the_index_in_the_notes_folder(small: Path, homes: Path) -> None:
    result = qa("init", "--corpus", str(small))
    assert result.exit_code == 0, result.output
    assert (small / ".qa").is_dir()
    assert default_index(small) == small / ".qa" / "index"
    assert str(small / ".qa" / "index") in result.stdout
    again = qa("init", "--corpus", str(small))  # a second time is fine, and says so
    assert again.exit_code == 0 and "already" in again.stdout
    built = qa("build", "--corpus", str(small), "--model", "fake")
    assert built.exit_code == 0, built.output
    index = Index.load(small / ".qa" / "index")
    assert {loc.file for c in index.chunks for loc in c.locations} == {
        "deep-learning.md",
        "statistics.md",
    }  # nothing under .qa/ was indexed
    assert not (homes / "cache" / "qa" / "indexes").exists()


def test_qa_init_on_a_missing_folder_is_one_line(tmp_path: Path, homes: Path) -> None:
    result = qa("init", "--corpus", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert result.output.strip() == f"qa: error: notes folder not found: {tmp_path / 'nope'}"


def test_qa_where_names_every_path_in_use(small: Path, homes: Path) -> None:
    result = qa("where", "--corpus", str(small))
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    paths = {k.strip(): v.split("  (")[0].strip() for k, v in lines.items()}
    assert lines["index"].endswith("(not built yet)") and lines["config"].endswith("(none yet)")
    key = folder_key(small)
    assert paths["notes"] == str(small.resolve())
    assert paths["index"] == str(homes / "cache" / "qa" / "indexes" / key)
    assert paths["cache"] == str(homes / "cache" / "qa")
    assert paths["history"] == str(homes / "state" / "qa" / "folders" / key / "history.jsonl")
    assert paths["state"] == str(homes / "state" / "qa" / "folders" / key)
    assert paths["config"] == str(small.resolve() / "qa.toml")
    data = json.loads(qa("where", "--corpus", str(small), "--json").stdout)
    assert data["index"] == paths["index"] and data["config_exists"] is False


RUNNER_DIRS = {".git", ".venv", "__pycache__", ".hypothesis", ".pytest_cache", ".ruff_cache"}


def test_indexing_a_user_folder_writes_nothing_in_the_checkout(tmp_path: Path) -> None:
    """A real `qa build` and `qa ask` in a child process, with a fresh home: every file
    they write is under the cache or state directory, none under the checkout."""
    notes = tmp_path / "notes"
    shutil.copytree(SMALL, notes)
    home = tmp_path / "home"

    def snapshot() -> dict[str, float]:
        out = {}
        for dirpath, dirnames, filenames in os.walk(ROOT):
            # Not the test runner's own files, which the other pytest-xdist worker may
            # write meanwhile (bytecode, Hypothesis' examples); the child writes no bytecode.
            dirnames[:] = [d for d in dirnames if d not in RUNNER_DIRS]
            for name in filenames:
                path = Path(dirpath) / name
                out[str(path)] = path.stat().st_mtime_ns
        return out

    before = snapshot()
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_STATE_HOME": str(home / "state"),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",  # the test's own bytecode is not qa's doing
    }
    env.pop("QA_INDEX", None)
    script = (
        "import sys; sys.path.insert(0, 'tests'); import conftest; from qa.cli import run; run()"
    )
    for args in (["build"], ["ask", "dropout", "--json"]):
        done = subprocess.run(
            [sys.executable, "-c", script, *args, "--corpus", str(notes), "--model", "fake"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    after = snapshot()
    assert {p for p in after if after[p] != before.get(p)} == set()
    assert (home / "cache" / "qa" / "indexes" / folder_key(notes) / "CURRENT").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "notes"]
    assert not (notes / ".qa").exists()


def edit(small: Path, n: int) -> None:
    note = small / "statistics.md"
    note.write_text(note.read_text(encoding="utf-8") + f"\n## Edit {n}\n\nText {n}.\n")


def test_a_build_leaves_one_generation_when_nobody_reads(
    small: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    idx = tmp_path / "idx"
    for n in range(3):
        edit(small, n)
        build_index(small, idx, fake_settings)
        assert generations(idx) == [current_generation(idx).name]
    Index.load(idx)  # a finished read leaves no lease behind
    assert held_generations(idx) == set()
    assert not list((idx / ".readers").iterdir())


def test_a_generation_a_reader_holds_is_kept_until_it_lets_go(
    small: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    idx = tmp_path / "idx"
    build_index(small, idx, fake_settings)
    first = current_generation(idx).name
    with reader_lease(idx, first):
        edit(small, 1)
        build_index(small, idx, fake_settings)
        second = current_generation(idx).name
        assert generations(idx) == sorted([first, second])  # still being read
        assert held_generations(idx) == {first}
    edit(small, 2)
    build_index(small, idx, fake_settings)
    assert generations(idx) == [current_generation(idx).name]  # both old ones went


def test_a_lease_left_by_a_dead_reader_holds_nothing(
    small: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    idx = tmp_path / "idx"
    build_index(small, idx, fake_settings)
    first = current_generation(idx).name
    code = (
        "import os, sys; from pathlib import Path; from qa.store.leases import reader_lease\n"
        f"with reader_lease(Path({str(idx)!r}), {first!r}): os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
    assert len(list((idx / ".readers").iterdir())) == 1  # the dead reader's file
    edit(small, 1)
    build_index(small, idx, fake_settings)
    assert generations(idx) == [current_generation(idx).name]
    assert not list((idx / ".readers").iterdir())
