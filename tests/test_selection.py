"""Choosing what is indexed: .qaignore, --include/--exclude, and .gitignore in a git
repository; the build summary counts what was left out; changing the rules rebuilds."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FAKE

from qa.cli import main
from qa.settings import Settings
from qa.store.index import Index, check_freshness
from qa.store.selection import select_notes

SMALL = Path(__file__).parent / "fixtures" / "small"
DRAFT = "# Drafts\n\n## Dropout draft\n\nDropout draft: zeroes units, half written.\n"


@pytest.fixture
def small(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    shutil.copytree(SMALL, folder)
    (folder / "drafts").mkdir()
    (folder / "drafts" / "dropout.md").write_text(DRAFT, encoding="utf-8")
    (folder / "zh").mkdir()
    (folder / "zh" / "extra.md").write_text("# 额外\n\n## 随机失活\n\n随机失活。\n", "utf-8")
    return folder


def qa(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def opts(corpus: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(corpus.parent / "index"), "--model", "fake"]


def indexed(corpus: Path) -> set[str]:
    index = Index.load(corpus.parent / "index")
    return {loc.file for c in index.chunks for loc in c.locations}


ALL = {"deep-learning.md", "statistics.md", "drafts/dropout.md", "zh/extra.md"}


def test_everything_is_indexed_without_rules(small: Path) -> None:
    result = qa("build", *opts(small))
    assert result.exit_code == 0, result.output
    assert indexed(small) == ALL
    assert "left out" not in result.stdout


def test_qaignore_leaves_notes_out_and_the_summary_counts_them(small: Path) -> None:
    (small / ".qaignore").write_text("# not ready\ndrafts/\n", encoding="utf-8")
    result = qa("build", *opts(small))
    assert result.exit_code == 0, result.output
    assert indexed(small) == ALL - {"drafts/dropout.md"}
    assert "1 note left out by ignore rules" in result.stdout
    hits = json.loads(qa("ask", "dropout draft", "--json", *opts(small)).stdout)["hits"]
    assert hits and all(not h["file"].startswith("drafts/") for h in hits)


def test_exclude_and_include_on_ask(small: Path) -> None:
    excluded = ["--exclude", "drafts/", "--exclude", "*.zh.md"]
    out = qa("ask", "dropout", "--json", *excluded, *opts(small))
    assert out.exit_code == 0, out.output
    assert indexed(small) == ALL - {"drafts/dropout.md"}
    only = qa("build", "--include", "zh/**", "--include", "statistics.md", *opts(small))
    assert only.exit_code == 0, only.output
    assert indexed(small) == {"zh/extra.md", "statistics.md"}
    assert "2 notes left out by ignore rules" in only.stdout


def test_changing_the_rules_rebuilds_incrementally(small: Path) -> None:
    first = qa("build", *opts(small))
    assert first.exit_code == 0
    idx = small.parent / "index"
    default = Settings().with_model("fake")  # what `--model fake` asks for
    settings = replace(default, exclude=("drafts/",))
    assert check_freshness(small, idx, default).fresh
    changed = check_freshness(small, idx, settings)
    assert changed.reason == "settings changed since the build: selection"
    assert not changed.notes  # the chat rebuilds for it (Policy.PRESENT), not only reports
    second = qa("build", "--exclude", "drafts/", *opts(small))
    assert "Texts embedded (new to each model): fake 0, e5 0." in second.stdout  # none again
    assert "0 added, 0 changed, 1 removed," in second.stdout  # the draft's section
    assert check_freshness(small, idx, settings).fresh
    assert not check_freshness(small, idx, default).fresh
    # Editing .qaignore counts as a change of the rules too.
    (small / ".qaignore").write_text("zh/\n", encoding="utf-8")
    assert not check_freshness(small, idx, settings).fresh


def test_include_and_exclude_from_qa_toml(small: Path) -> None:
    (small / "qa.toml").write_text('[settings.default]\nexclude = ["zh/"]\n', encoding="utf-8")
    assert qa("build", *opts(small)).exit_code == 0
    assert indexed(small) == ALL - {"zh/extra.md"}
    (small / "qa.toml").write_text('[settings.default]\nexclude = "zh/"\n', encoding="utf-8")
    bad = qa("build", *opts(small))
    assert bad.exit_code == 1
    assert "exclude must be a list of patterns" in bad.output


def test_options_before_the_command_are_a_usage_error(small: Path) -> None:
    result = qa("--exclude", "drafts/", "build", "--corpus", str(small))
    assert result.exit_code == 2
    assert "after the command" in result.output


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=True
    ).stdout


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@needs_git
def test_gitignore_is_honoured_in_a_git_repository(small: Path) -> None:
    git(small, "init", "-q")
    (small / ".gitignore").write_text("drafts/\n", encoding="utf-8")
    (small / "zh" / ".gitignore").write_text("*.md\n!extra.md\n", encoding="utf-8")
    (small / "zh" / "scratch.md").write_text("# Scratch\n\n## Notes\n\nscratch\n", "utf-8")
    result = qa("build", *opts(small))
    assert result.exit_code == 0, result.output
    assert indexed(small) == ALL - {"drafts/dropout.md"}  # zh/scratch.md too
    assert "2 notes left out by ignore rules" in result.stdout


@needs_git
def test_the_notes_are_a_folder_inside_a_repository(tmp_path: Path) -> None:
    """.gitignore files above the notes folder count; git itself agrees on every note."""
    repo = tmp_path / "repo"
    notes = repo / "docs" / "notes"
    shutil.copytree(SMALL, notes)
    (notes / "build").mkdir()
    (notes / "build" / "out.md").write_text("# Out\n\nx\n", encoding="utf-8")
    (notes / "keep.tmp.md").write_text("# Keep\n\nx\n", encoding="utf-8")
    git(repo, "init", "-q")
    (repo / ".gitignore").write_text("build/\n*.tmp.md\n", encoding="utf-8")
    (repo / "docs" / ".gitignore").write_text("!keep.tmp.md\n", encoding="utf-8")
    (repo / ".git" / "info" / "exclude").write_text("statistics.md\n", encoding="utf-8")
    stats, _, skipped = select_notes(notes, FAKE)
    kept = {s.path for s in stats}
    assert kept == {"deep-learning.md", "keep.tmp.md"}
    assert skipped == 2
    ignored = git(repo, "ls-files", "--others", "--ignored", "--exclude-standard")
    git_ignored = {p.removeprefix("docs/notes/") for p in ignored.split()}
    assert git_ignored & kept == set()
    assert {"statistics.md", "build/out.md"} <= git_ignored
    # And with gitignore = false, they are all indexed.
    stats, _, skipped = select_notes(notes, replace(FAKE, gitignore=False))
    assert len(stats) == 4 and skipped == 0


def test_gitignore_outside_a_repository_is_not_read(small: Path) -> None:
    (small / ".gitignore").write_text("drafts/\n", encoding="utf-8")
    stats, _, skipped = select_notes(small, FAKE)
    assert {s.path for s in stats} == ALL and skipped == 0
