"""Output for the shell: qa ask --in (search part of the notes), and qa open N."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa import places
from qa.cli import main
from qa.retrieve.scope import ScopeError, resolve_within
from qa.retrieve.search import CANDIDATES, Searcher
from qa.store.build import build_index
from qa.store.index import Index
from qa.study import history

SMALL = Path(__file__).parent / "fixtures" / "small"
# Many notes about dropout outside chapter2/, one inside: without the filter before the
# top-k cut, --in chapter2 --top 1 would find nothing.
MANY = "# Dropout {n}\n\n## Dropout again {n}\n\nDropout zeroes units, dropout, dropout.\n"
INSIDE = "# Chapter two\n\n## Regularisation\n\nWeight decay; dropout is mentioned once.\n"


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    shutil.copytree(SMALL, folder)
    for n in range(12):
        (folder / f"dropout-{n}.md").write_text(MANY.format(n=n), encoding="utf-8")
    (folder / "chapter2").mkdir()
    (folder / "chapter2" / "reg.md").write_text(INSIDE, encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def qa(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def opts(corpus: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(corpus.parent / "index"), "--model", "fake"]


def ask_files(notes: Path, *args: str) -> list[str]:
    result = qa("ask", "dropout", "--json", *args, *opts(notes))
    assert result.exit_code == 0, result.output
    return [h["file"] for h in json.loads(result.stdout)["hits"]]


def test_in_keeps_the_top_k_within_the_filter(notes: Path) -> None:
    everywhere = ask_files(notes, "--top", "3")
    assert "chapter2/reg.md" not in everywhere
    assert ask_files(notes, "--top", "1", "--in", "chapter2") == ["chapter2/reg.md"]
    assert ask_files(notes, "--in", "chapter2/reg.md") == ["chapter2/reg.md"]
    two = ask_files(notes, "--top", "5", "--in", "chapter2/", "--in", "deep-learning.md")
    assert set(two) == {"chapter2/reg.md", "deep-learning.md"}
    absolute = ask_files(notes, "--top", "1", "--in", str(notes / "chapter2"))
    assert absolute == ["chapter2/reg.md"]


def test_in_with_a_path_that_is_not_in_the_notes(notes: Path, tmp_path: Path) -> None:
    missing = qa("ask", "dropout", "--in", "chapter9", *opts(notes))
    assert missing.exit_code == 1
    assert missing.output.strip() == f"qa: error: no note or folder chapter9 in {notes}"
    outside = qa("ask", "dropout", "--in", str(tmp_path), *opts(notes))
    assert outside.exit_code == 1
    assert "is not inside the notes folder" in outside.output


def test_resolve_within(notes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_within(notes, "chapter2/") == "chapter2"
    assert resolve_within(notes, str(notes)) == "."
    monkeypatch.chdir(notes / "chapter2")  # as a shell completes it, from inside
    assert resolve_within(notes, "reg.md") == "chapter2/reg.md"
    with pytest.raises(ScopeError):
        resolve_within(notes, "../../")


def test_search_within_filters_before_the_cut(notes: Path, tmp_path: Path, fake_settings) -> None:
    """More notes about dropout than any channel lists as candidates (CANDIDATES): the
    one inside the filter is found all the same."""
    for n in range(12, CANDIDATES + 10):
        (notes / f"dropout-{n}.md").write_text(MANY.format(n=n), encoding="utf-8")
    build_index(notes, tmp_path / "idx", fake_settings)
    searcher = Searcher(Index.load(tmp_path / "idx"), fake_settings)
    assert len(searcher.index.chunks) > CANDIDATES
    for channel in ("bm25", "fake"):
        unfiltered = searcher.search("dropout", top_k=CANDIDATES, channels=[channel])
        assert "chapter2/reg.md" not in {h.chunk.location.file for h in unfiltered.hits}
        answer = searcher.search("dropout", top_k=3, channels=[channel], within=["chapter2"])
        assert [h.chunk.location.file for h in answer.hits] == ["chapter2/reg.md"]
    everything = searcher.search("dropout", top_k=5, within=["."])
    assert [h.chunk.id for h in everything.hits] == [
        h.chunk.id for h in searcher.search("dropout", top_k=5).hits
    ]
    assert searcher.search("dropout", within=["nothing-here"]).hits == []


def fake_editor(tmp_path: Path) -> tuple[Path, Path]:
    """An editor that records the arguments it was run with."""
    script, record = tmp_path / "fake-editor", tmp_path / "editor-argv.json"
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, record


def test_qa_open_opens_hit_n_of_the_last_question(
    notes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, record = fake_editor(tmp_path)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.delenv("VISUAL", raising=False)
    asked = qa("ask", "why does dropout help", "--files", "--top", "3", *opts(notes))
    lines = asked.stdout.splitlines()
    entry = history.last(places.history_path(notes))
    assert entry is not None and entry.source == "ask" and entry.hits
    assert [f"{notes / h}" for h in entry.hits[:3]] == lines
    result = qa("open", "2", "--corpus", str(notes))
    assert result.exit_code == 0, result.output
    path, line = lines[1].rsplit(":", 1)
    assert json.loads(record.read_text()) == [f"+{line}", path]
    qa("open", "--corpus", str(notes))  # the first hit by default
    path, line = lines[0].rsplit(":", 1)
    assert json.loads(record.read_text()) == [f"+{line}", path]


def test_qa_open_errors_are_one_line(notes: Path, tmp_path: Path, monkeypatch) -> None:
    script, _ = fake_editor(tmp_path)
    monkeypatch.setenv("EDITOR", str(script))
    none_yet = qa("open", "--corpus", str(notes))
    assert none_yet.exit_code == 1
    assert none_yet.output.startswith(f"qa: error: no question asked about {notes} yet")
    qa("ask", "dropout", "--top", "2", *opts(notes))
    too_far = qa("open", "7", "--corpus", str(notes))
    assert too_far.output.strip() == "qa: error: the last question ('dropout') has 2 hits"
    entry = history.last(places.history_path(notes))
    assert entry is not None and entry.hits
    os.remove(notes / entry.hits[0].rsplit(":", 1)[0])
    gone = qa("open", "1", "--corpus", str(notes))
    assert gone.exit_code == 1 and "is not in" in gone.output


def test_history_keeps_hits_and_reads_old_entries(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(
        '{"question": "old", "at": 1, "source": "chat", "best": "a.md:3"}\n'
        '{"question": "bad hits", "at": 2, "source": "ask", "hits": [1, 2]}\n'
    )
    history.record(path, history.Asked("new", 3.0, "ask", hits=["a.md:3", "b.md:9"]))
    old, bad, new = history.read(path)
    assert old.hits is None and bad.hits is None
    assert new.hits == ["a.md:3", "b.md:9"]
    assert history.last(path) == new


def test_a_build_to_a_pipe_reports_each_stage(notes: Path) -> None:
    result = qa("build", *opts(notes))
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    notes_count = len(list(notes.rglob("*.md")))
    assert re.fullmatch(
        rf"qa: reading notes: {notes_count} of {notes_count} \(\d+\.\d s\)", lines[0]
    )
    embedded = [line for line in lines if line.startswith("qa: embedding (fake): ")]
    assert len(embedded) == 1
    done, total = re.findall(r"(\d+) of (\d+)", embedded[0])[0]
    assert done == total and int(total) > 0
    again = qa("build", *opts(notes))  # nothing new to embed: said once, as 0 of 0
    assert "qa: embedding (fake): 0 of 0" in again.stderr
    fresh = qa("ask", "dropout", "--no-build", *opts(notes))
    assert fresh.stderr == ""  # no build, no progress lines


def test_stage_lines_write_one_line_per_stage() -> None:
    from qa.progress import StageLines

    out: list[str] = []
    ticks = iter([0.0, 1.0, 1.0, 3.5, 3.5, 4.0])
    lines = StageLines(out.append, clock=lambda: next(ticks))
    lines("reading notes", 1, 3)
    lines("reading notes", 2, 3)  # one note skipped: never reaches 3
    lines("embedding (e5)", 0, 2)
    lines("embedding (e5)", 2, 2)
    lines("embedding (minilm)", 0, 5)
    lines.close()
    assert out == [
        "qa: reading notes: 2 of 3 (1.0 s)",
        "qa: embedding (e5): 2 of 2 (2.5 s)",
        "qa: embedding (minilm): 0 of 5 (0.5 s)",
    ]


def test_a_section_in_several_notes_is_shown_where_the_filter_points(notes: Path) -> None:
    same = "# Shared\n\n## Early stopping\n\nStop training when validation loss rises.\n"
    (notes / "a-first.md").write_text(same, encoding="utf-8")  # listed first
    (notes / "chapter2" / "copy.md").write_text(same, encoding="utf-8")
    plain = qa("ask", "early stopping", "--json", "--top", "1", *opts(notes))
    first = json.loads(plain.stdout)["hits"][0]
    assert first["file"] == "a-first.md"
    assert first["also_in"] == [{"file": "chapter2/copy.md", "start_line": 3}]
    within = qa("ask", "early stopping", "--json", "--top", "1", "--in", "chapter2", *opts(notes))
    hit = json.loads(within.stdout)["hits"][0]
    assert (hit["file"], hit["start_line"]) == ("chapter2/copy.md", 3)
    assert hit["also_in"] == [{"file": "a-first.md", "start_line": 3}]
    entry = history.last(places.history_path(notes))
    assert entry is not None and entry.hits == ["chapter2/copy.md:3"]
