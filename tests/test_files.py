"""Writing a file all or nothing (qa.files.write_atomic)."""

import os
from pathlib import Path

import pytest

from qa.files import write_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "CURRENT"
    write_atomic(path, "gen-1\n")
    assert path.read_text() == "gen-1\n"

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, "gen-2\n")
    assert path.read_text() == "gen-1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT"]


def test_a_private_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    write_atomic(path, b"{}\n", mode=0o600)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes() == b"{}\n"
