"""Finding and reading notes, including the ones that cannot be read."""

import os
from pathlib import Path

import pytest

from qa.store.notes import CorpusError, decode_note, find_notes, read_note


def test_finds_markdown_recursively_in_a_stable_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.md").write_text("# Z\n")
    (tmp_path / "a.md").write_text("# A\n")
    (tmp_path / "notes.txt").write_text("not markdown")
    (tmp_path / ".obsidian").mkdir()
    (tmp_path / ".obsidian" / "hidden.md").write_text("# hidden\n")
    stats, problems = find_notes(tmp_path)
    assert [s.path for s in stats] == ["a.md", "b/z.md"]
    assert problems == []


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="notes folder not found"):
        find_notes(tmp_path / "nope")


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text("# X\n")
    with pytest.raises(CorpusError, match="not a folder"):
        find_notes(tmp_path / "x.md")


def test_symlink_loop_is_reported_not_followed_forever(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "n.md").write_text("# N\n")
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    stats, problems = find_notes(tmp_path)
    assert [s.path for s in stats] == ["sub/n.md"]
    assert any("symlink loop" in p.message for p in problems)


def test_invalid_utf8_that_is_not_gb18030_is_skipped_with_a_warning() -> None:
    text, problem = decode_note(b"# ok\n\xff\xfe\xfa bad", "bad.md")
    assert text is None
    assert problem is not None and "not valid UTF-8" in problem.message
    assert str(problem).startswith("bad.md: ")


def test_gb18030_notes_are_read_with_a_warning() -> None:
    raw = "# 过拟合\n\n模型记住了噪声。\n".encode("gb18030")
    text, problem = decode_note(raw, "gbk.md")
    assert text == "# 过拟合\n\n模型记住了噪声。\n"
    assert problem is not None and "GB18030" in problem.message


def test_binary_file_named_md_is_skipped() -> None:
    text, problem = decode_note(b"\x89PNG\r\n\x1a\n\x00\x00\x00", "image.md")
    assert text is None
    assert problem is not None and "binary" in problem.message


def test_lone_cr_line_endings_become_newlines(tmp_path: Path) -> None:
    (tmp_path / "mac.md").write_bytes(b"# A\r\rText\r")
    stats, _ = find_notes(tmp_path)
    note, problem = read_note(tmp_path, stats[0])
    assert problem is None and note is not None
    assert note.text == "# A\n\nText\n"
