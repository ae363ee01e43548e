"""Per-folder question history and the places qa keeps per-folder state."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from qa import places
from qa.study import history


def test_each_notes_folder_has_its_own_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    a = tmp_path / "one" / "notes"
    b = tmp_path / "two" / "notes"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    assert places.history_path(a) != places.history_path(b)  # same name, other folder
    assert places.history_path(a) == places.history_path(a / ".." / "notes")
    assert places.history_path(a).is_relative_to(tmp_path / "state")
    assert places.folder_key(a).startswith("notes-")


def test_entries_round_trip_and_bad_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "h" / "history.jsonl"
    history.record(path, history.Asked("what is dropout", 1.0, "chat", False, "a.md:3"))
    with path.open("a", encoding="utf-8") as f:
        f.write("not json\n")
        f.write(json.dumps({"question": 5}) + "\n")
        f.write("\ufffe\x00garbage\n")
    history.record(path, history.Asked("什么是过拟合", 2.0, "ask", True))
    entries = history.read(path)
    assert [e.question for e in entries] == ["what is dropout", "什么是过拟合"]
    assert entries[0].best == "a.md:3" and entries[0].declined is False
    assert entries[1].declined is True and entries[1].source == "ask"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_questions_drop_immediate_repeats_and_keep_the_last(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    for q in ["a", "a", "b", "a", "c"]:
        history.record(path, history.Asked(q, 0.0, "chat"))
    assert history.questions(path) == ["a", "b", "a", "c"]
    assert history.questions(path, limit=2) == ["a", "c"]


def test_the_file_is_trimmed_to_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "LIMIT", 5)
    path = tmp_path / "history.jsonl"
    for n in range(40):
        history.record(path, history.Asked(f"question number {n} " + "x" * 100, 0.0, "chat"))
    entries = history.read(path)
    assert len(entries) <= 5 * 2 + 5  # trimmed whenever the file outgrows the limit
    assert entries[-1].question.startswith("question number 39 ")


def test_an_unwritable_history_never_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    history.record(blocker / "history.jsonl", history.Asked("q", 0.0, "chat"))
    assert history.read(blocker / "history.jsonl") == []
