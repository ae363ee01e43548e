"""Hostile notes, hostile index folders and hostile input (issue 20).

Each test is named after the item of the issue it covers. Plumbing tests run on a copy
of the small fixture notes with the fake encoder, chosen by a qa.toml in the notes folder
so that the CLI uses it alone (``--model fake`` would keep e5 beside it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from qa.cli import main
from qa.library import Library
from qa.presets import load_presets
from qa.store.build import build_index
from qa.store.chunking import chunk_markdown
from qa.store.index import CURRENT, Index, IndexCorrupt, check_freshness, current_generation
from qa.store.notes import MAX_NOTE_BYTES, NoteStat, decode_note, find_notes, read_note

TESTS = Path(__file__).parent
SMALL = TESTS / "fixtures" / "small"
FAKE_TOML = '[settings.default]\nmodels = ["fake"]\nweights = { bm25 = 1.0, fake = 1.0 }\n'
ESC = "\x1b"
RAW_CONTROLS = [chr(c) for c in range(0x20) if c not in (9, 10)] + [
    chr(c) for c in range(0x7F, 0xA0)
]


def make_notes(folder: Path, extra: dict[str, str | bytes] | None = None) -> Path:
    """The small fixture notes (without the labelled questions), a qa.toml choosing the
    fake encoder, and ``extra`` files."""
    shutil.copytree(SMALL, folder, ignore=shutil.ignore_patterns("*.jsonl"))
    (folder / "qa.toml").write_text(FAKE_TOML)
    for name, content in (extra or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def settings_of(notes: Path) -> Any:
    return load_presets(notes)["default"]


def qa(*args: str, input: str | bytes | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=input)


def where(notes: Path, index: Path | None = None) -> list[str]:
    return ["--corpus", str(notes), "--index", str(index or notes.parent / "index")]


def no_raw_controls(text: str) -> bool:
    return not any(ch in text for ch in RAW_CONTROLS)


# ---------------------------------------------------------------- 1. symlinks


def test_1_links_that_leave_the_notes_folder_are_not_indexed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "secret.md").write_text("# Keys\n\nMY_SECRET_TOKEN api key = hunter2\n")
    (outside / "folder" / "more.md").write_text("# More\n\nMY_SECRET_TOKEN second copy\n")
    notes = make_notes(tmp_path / "notes")
    os.symlink(outside / "secret.md", notes / "secret.md")
    os.symlink(outside / "folder", notes / "linked")
    os.symlink("/etc/passwd", notes / "etcpasswd.md")
    os.symlink("/proc/self/status", notes / "p.md")
    os.symlink(notes / "deep-learning.md", notes / "inside.md")  # stays inside: fine
    stats, problems = find_notes(notes)
    assert [s.path for s in stats] == ["deep-learning.md", "inside.md", "statistics.md"]
    skipped = {p.path: p.message for p in problems}
    assert sorted(skipped) == ["etcpasswd.md", "linked", "p.md", "secret.md"]
    assert all("outside the notes folder" in m for m in skipped.values())
    build = qa("build", *where(notes))
    assert build.exit_code == 0, build.output
    assert build.stderr.count("outside the notes folder") == 4  # once per link
    answer = qa("ask", "MY_SECRET_TOKEN api key", "--json", *where(notes))
    assert answer.exit_code == 0
    hits = json.dumps(json.loads(answer.stdout)["hits"])
    assert "MY_SECRET_TOKEN" not in hits and "root:" not in hits and "hunter2" not in hits
    # Following them is an explicit choice.
    (notes / "qa.toml").write_text(FAKE_TOML + "follow_links = true\n")
    followed = qa("ask", "MY_SECRET_TOKEN api key", "--json", *where(notes))
    assert followed.exit_code == 0, followed.output
    assert "hunter2" in followed.stdout


def test_1_a_note_is_as_large_as_what_was_read_not_what_stat_says(tmp_path: Path) -> None:
    (tmp_path / "big.md").write_bytes(b"# Big\n\n" + b"x" * (MAX_NOTE_BYTES + 10))
    note, problem = read_note(tmp_path, NoteStat("big.md", 0, 0))  # as procfs reports
    assert note is None
    assert problem is not None and problem.message.startswith("too large")


# ---------------------------------------------------------------- 2. terminal injection

SEQUENCES = [
    ("\x1b]52;c;aGVsbG8=\x07", "␛]52;c;aGVsbG8=␇"),  # OSC 52: write the clipboard
    ("\x1b]0;owned\x07", "␛]0;owned␇"),  # OSC 0: window title
    ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "␛]8;;http://x␛\\link␛]8;;␛\\"),  # OSC 8
    ("\x1b[2J\x1b[3;1H", "␛[2J␛[3;1H"),  # clear the screen, move the cursor
    ("\x1b[6n", "␛[6n"),  # ask the terminal where the cursor is
    ("\x1b[31mred\x1b[0m", "␛[31mred␛[0m"),
    ("\x9b2J", "\\x9b2J"),  # C1 CSI
    ("\x9d0;t\x9c", "\\x9d0;t\\x9c"),  # C1 OSC and ST
    ("a\x00b\x07c\x08d", "a␀b␇c␈d"),
    ("over\rwrite", "over␍write"),
    ("del\x7f", "del␡"),
    ("\x1bc", "␛c"),  # full reset
    ("keep\ttabs\nand lines", "keep\ttabs\nand lines"),
    ("中文 ok — “quotes” é", "中文 ok — “quotes” é"),
]


@pytest.mark.parametrize(("raw", "shown"), SEQUENCES)
def test_2_control_characters_are_made_visible_and_inert(raw: str, shown: str) -> None:
    from qa.display import safe_text

    assert safe_text(raw) == shown
    assert no_raw_controls(safe_text(raw))


def test_2_one_line_text_shows_newlines_too() -> None:
    from qa.display import safe_text

    assert safe_text("a\nb\tc", one_line=True) == "a␊b\tc"


def test_2_json_escapes_c1_and_del_too() -> None:
    from qa.display import json_text

    value = {"text": "a\x1b[2J\x9b6n\x85\x7f中文"}
    out = json_text(value)
    assert no_raw_controls(out)
    assert "\\u009b" in out and "中文" in out
    assert json.loads(out) == value


HOSTILE_NOTE = (
    "# Drop\x1b]0;owned\x07out\n\n"
    "Dropout \x1b]52;c;aGVsbG8=\x07 zeroes units \x1b[2J\x1b[3;1HFAKE LINE \x9b6n"
    " \x1b]8;;http://evil\x1b\\here\x1b]8;;\x1b\\ \x1b[6n.\n"
)


def test_2_no_raw_sequence_reaches_the_terminal_from_the_cli(tmp_path: Path) -> None:
    notes = make_notes(
        tmp_path / "notes",
        {"hostile\x1b[2Jname.md": HOSTILE_NOTE, "bad\x1b]0;t\x07.md": b"\x00\x01binary"},
    )
    build = qa("build", *where(notes))
    assert build.exit_code == 0, build.output
    assert "bad␛]0;t␇.md: looks like a binary file" in build.stderr
    human = qa("ask", "dropout zeroes units", *where(notes))
    assert human.exit_code == 0, human.output
    assert "FAKE LINE" in human.stdout and "hostile␛[2Jname.md" in human.stdout
    as_json = qa("ask", "dropout zeroes units", "--json", *where(notes))
    batch = qa("ask", *where(notes), input="dropout zeroes units\n")
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"question": "dropout\x1b]52;c;eA==\x07 \x9b2J", "relevant": ["Nope"]}) + "\n"
    )
    report = qa("eval", "--questions", str(questions), *where(notes))
    assert report.exit_code == 0, report.output
    glossary = qa("glossary", *where(notes))
    for result in (build, human, as_json, batch, report, glossary):
        assert no_raw_controls(result.stdout), result.stdout
        assert no_raw_controls(result.stderr), result.stderr
    assert "\\u001b]52" in as_json.stdout and "\\u009b" in as_json.stdout


def test_2_the_tui_shows_hostile_notes_inert(tmp_path: Path) -> None:
    import asyncio

    from textual.widgets import Markdown, Static

    from qa.tui.app import QAApp
    from qa.tui.widgets import AnswerCard, ResultsList

    notes = make_notes(tmp_path / "notes", {"hostile\x1b[2J.md": HOSTILE_NOTE})
    settings = settings_of(notes)
    build_index(notes, tmp_path / "index", settings)

    async def run() -> list[str]:
        app = QAApp(notes, tmp_path / "index", settings, freshness_seconds=0)
        async with app.run_test(size=(110, 36)) as pilot:
            deadline = time.monotonic() + 60
            while not (app.index.phase == "ready" and not app.index.loading_channels):
                assert time.monotonic() < deadline
                await pilot.pause(0.05)
            app.chat.ask("dropout zeroes units")
            while not any(c.answer is not None for c in app.chat.query(AnswerCard)):
                assert time.monotonic() < deadline
                await pilot.pause(0.05)
            await pilot.pause(0.2)
            shown = [str(w.render()) for w in app.screen.query(Static)]
            shown += [w.source for w in app.screen.query(Markdown)]
            panel = app.screen.query_one(ResultsList)
            shown += [str(panel.get_option_at_index(i).prompt) for i in range(panel.option_count)]
            return shown

    shown = asyncio.run(run())
    assert any("FAKE LINE" in s for s in shown)
    assert all(no_raw_controls(s) for s in shown), [s for s in shown if not no_raw_controls(s)]


# ---------------------------------------------------------------- 3. paths in the index


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    notes = make_notes(tmp_path / "notes")
    index = tmp_path / "index"
    build_index(notes, index, settings_of(notes))
    return notes, index


@pytest.mark.parametrize("file", ["/etc/passwd", "../outside.md", "a/../../x.md", "", "x\x00.md"])
def test_3_a_chunk_file_outside_the_notes_folder_is_damage(built, file: str) -> None:
    notes, index = built
    rewrite_sections(current_generation(index), lambda rec: set_file(rec, file))
    with pytest.raises(IndexCorrupt, match="run `qa build --full`"):
        Index.load(index)
    searcher = Library(notes, index, settings_of(notes)).open()  # rebuilt
    assert {loc.file for c in searcher.index.chunks for loc in c.locations} == {
        "deep-learning.md",
        "statistics.md",
    }


@pytest.mark.parametrize("absolute", [True, False])
def test_3_a_manifest_path_outside_the_generation_is_damage(built, absolute: bool) -> None:
    _, index = built
    gen = current_generation(index)
    elsewhere = index.parent / "elsewhere"
    elsewhere.mkdir()
    for name in ("vectors.fake.faiss", "vectors.fake.hashes"):
        shutil.copy(gen / name, elsewhere / name)  # valid files, but not this index's
    for key, name in (("file", "vectors.fake.faiss"), ("hashes_file", "vectors.fake.hashes")):
        value = str(elsewhere / name) if absolute else f"../../elsewhere/{name}"
        rewrite_manifest(gen, lambda m, k=key, v=value: m["channels"]["fake"].update({k: v}))
    with pytest.raises(IndexCorrupt, match="outside"):
        Index.load(index)


def test_3_the_editor_is_never_opened_outside_the_notes_folder(built, tmp_path: Path) -> None:
    from qa.store.chunks import Chunk, Location
    from qa.tui.app import QAApp

    notes, index = built
    (tmp_path / "outside.md").write_text("# Outside\n")
    os.symlink(tmp_path / "outside.md", notes / "link.md")
    app = QAApp(notes, index, settings_of(notes), freshness_seconds=0)
    said: list[str] = []
    ran: list[list[str]] = []
    app.notify = lambda message, **kw: said.append(message)  # type: ignore[method-assign]
    app.run_editor = ran.append  # type: ignore[method-assign]
    from qa.tui.messages import EditChunk

    for file in ("/etc/passwd", "../outside.md", "link.md"):
        chunk = Chunk("x", ("X",), "t", True, locations=[Location(file, 1, 1, ("X",))])
        app.on_edit_chunk(EditChunk(chunk))
    assert ran == []
    assert len(said) == 3 and all("not in" in s for s in said)


# ---------------------------------------------------------------- 4. linear chunking

ADVERSARIAL = {
    "unclosed comments": "<!--" * 250_000,
    "unclosed scripts": "<script>" * 125_000,
    "unclosed styles": "<style a>x" * 100_000,
    "unclosed fences": "```\n" * 250_000,
    "one long line": "word " * 200_000,
    "deep quotes": "> " * 500_000,
    "deep lists": "- " * 500_000,
    "brackets": "[" * 1_000_000,
    "emphasis": "*_" * 500_000,
    "headings": "# " + "[" * 1_000_000,
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_4_a_1mb_adversarial_note_chunks_in_seconds(name: str) -> None:
    text = ADVERSARIAL[name]
    started = time.perf_counter()
    sections = chunk_markdown(text, "x.md")
    assert time.perf_counter() - started < 10  # bench/adversarial_chunking.py has the figures
    assert all(len(s.body) <= 700 * 2 for s in sections)  # windows hold (default 1200 here)


def test_4_hidden_html_is_still_removed() -> None:
    text = (
        "# A\n\nseen <!-- hidden --> seen\n\n<script>alert(1)</script>\n\n"
        "<STYLE type=x>p {}</style >after\n\nunclosed <!-- stays\n"
    )
    body = chunk_markdown(text, "a.md")[0].body
    assert body == "seen  seen\n\nafter\n\nunclosed <!-- stays"


# ---------------------------------------------------------------- 5. long paragraphs


@pytest.mark.parametrize(
    "paragraph",
    [
        "Dropout zeroes units at random. " * 3000,  # English sentences
        "丢弃法在训练时随机将神经元置零。" * 3000,  # Chinese sentences
        "nopunctuationatall" * 6000,  # nothing to cut at but characters
        "- " + "item text that goes on " * 4000,  # a list item
    ],
    ids=["english", "chinese", "no-punctuation", "list-item"],
)
def test_5_no_chunk_exceeds_the_window(paragraph: str) -> None:
    sections = chunk_markdown("# Long\n\n" + paragraph + "\n\n## Next\n\nshort\n", "l.md", 700)
    long = [s for s in sections if s.heading_path == ("Long",)]
    assert len(long) > 10
    assert max(len(s.body) for s in sections) <= 700
    assert "".join(s.body.replace("\n", "") for s in long).replace(" ", "") == (
        paragraph.replace(" ", "")
    )
    assert all(s.start_line == 1 or s.start_line == 3 for s in long)
    assert [s.part for s in long] == list(range(1, len(long) + 1))


def test_5_a_long_code_fence_is_cut_between_lines_and_stays_fenced() -> None:
    code = "\n".join(f"    x_{i} = compute({i})  # step" for i in range(400))
    sections = chunk_markdown(f"# Code\n\n```python\n{code}\n```\n", "c.md", 700)
    assert len(sections) > 5 and max(len(s.body) for s in sections) <= 700
    for s in sections:
        assert s.body.startswith("```python\n") and s.body.endswith("\n```")
        assert all(line.startswith("    x_") for line in s.body.split("\n")[1:-1])  # indent kept
    assert sections[1].start_line > sections[0].start_line


def test_5_what_an_encoder_reads_and_the_cli_prints_is_capped(tmp_path: Path) -> None:
    from qa.store.build import MAX_EMBED_CHARS, embed_text
    from qa.store.chunks import Chunk

    chunk = Chunk("x", ("H",), "word " * 100_000, True)
    assert len(embed_text(chunk, FAKE_ENCODER, None)) <= MAX_EMBED_CHARS
    notes = make_notes(tmp_path / "notes", {"long.md": "# Long\n\n" + "dropout " * 3000 + "\n"})
    (notes / "qa.toml").write_text(FAKE_TOML + "window_chars = 20000\n")
    result = qa("ask", "dropout", "--top", "1", *where(notes))
    assert result.exit_code == 0, result.output
    assert len(result.stdout) < 5000
    assert "more characters" in result.stdout


class _Fake:
    multilingual = True


FAKE_ENCODER: Any = _Fake()


# ---------------------------------------------------------------- 6. skipped notes


def test_6_a_skipped_note_does_not_keep_the_index_stale(tmp_path: Path) -> None:
    notes = make_notes(
        tmp_path / "notes",
        {
            "binary.md": b"\x00\x01\x02",
            "latin.md": b"# x\n\xfa\xfb not text \x81\xff",
            "huge.md": b"# Huge\n\n" + b"w " * (MAX_NOTE_BYTES // 2 + 10),
        },
    )
    os.symlink(notes / "nowhere.md", notes / "dangling.md")
    settings = settings_of(notes)
    report = build_index(notes, tmp_path / "index", settings)
    assert {p.path for p in report.problems} == {"binary.md", "latin.md", "huge.md", "dangling.md"}
    assert check_freshness(notes, tmp_path / "index", settings).fresh
    (notes / "binary.md").write_bytes(b"# Now text\n\nhello\n")
    fresh = check_freshness(notes, tmp_path / "index", settings)
    assert not fresh.fresh and fresh.reason == "binary.md changed"


# ---------------------------------------------------------------- 7. qa watch

CHILD = (
    "import sys; sys.path.insert(0, {tests!r}); import conftest; "
    "from qa.cli import run; sys.argv = ['qa'] + {args!r}; run()"
)


def qa_child(*args: str) -> list[str]:
    return [sys.executable, "-c", CHILD.format(tests=str(TESTS), args=list(args))]


def _as_in_a_terminal() -> None:
    """Ctrl-C reaches the child as it does a command typed in a terminal: a test worker
    may run with SIGINT ignored or blocked, which a child would inherit."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_7_watch_follows_a_notes_folder_that_is_removed_and_recreated(tmp_path: Path) -> None:
    notes = make_notes(tmp_path / "notes")
    index = tmp_path / "index"
    proc = subprocess.Popen(
        qa_child("watch", *where(notes, index)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_as_in_a_terminal,
    )
    try:
        deadline = time.time() + 120
        while not (index / CURRENT).exists() and time.time() < deadline:
            time.sleep(0.1)
        first = (index / CURRENT).read_text()
        time.sleep(1.0)
        shutil.rmtree(notes)
        time.sleep(1.5)
        make_notes(notes, {"new-note.md": "# Gradient clipping\n\nClip the norm.\n"})
        while (index / CURRENT).read_text() == first and time.time() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        assert any("Clip the norm." in c.text for c in Index.load(index).chunks)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert "notes folder" in out and "is gone" in out, out
    assert proc.returncode == 130, out


# ---------------------------------------------------------------- 8. stdin batch


def test_8_one_valid_utf8_record_per_input_line(tmp_path: Path) -> None:
    notes = make_notes(tmp_path / "notes")
    lines = [b"why does dropout help", b"", b"\xff\xfe\xfd", b"   ", b"drop\xffout", b"???"]
    result = qa("ask", "--json", *where(notes), input=b"\n".join(lines) + b"\n")
    assert result.exit_code == 0, result.output
    out = result.stdout_bytes.decode("utf-8")  # valid UTF-8, or this raises
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == len(lines)
    assert records[0]["hits"] and "error" not in records[0]
    assert records[1] == {"question": "", "error": "the question is empty", "hits": []}
    assert records[2]["invalid_utf8"] is True and records[2]["question"] == "\ufffd" * 3
    assert records[3]["error"] == "the question is empty"
    assert records[4]["invalid_utf8"] is True and records[4]["hits"]
    assert "invalid_utf8" not in records[0]


# ---------------------------------------------------------------- 9. qa.toml


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("settings = 5\n", "settings must be a table of [settings.NAME] tables"),
        ("[settings.default]\ncoverage_weight = nan\n", "[settings.default] coverage_weight"),
        ("[settings.default]\ncoverage_weight = inf\n", "[settings.default] coverage_weight"),
        ("[settings.default]\ncoverage_weight = 1e308\n", "[settings.default] coverage_weight"),
        ("[settings.x]\nweights = { bm25 = nan }\n", "[settings.x] weights"),
        ("[settings.x]\nweights = { bm25 = 1e300 }\n", "[settings.x] weights"),
        ("[settings.x]\nexpansion_weight = -0.0\nrrf_k = 10000000000\n", "[settings.x] rrf_k"),
        ("[settings.x]\nwindow_chars = 99999999\n", "[settings.x] window_chars"),
        ('[settings.default]\nmodels = ["no-such-model"]\n', "[settings.default] models"),
        ("[settings.default]\nfollow_links = 1\n", "[settings.default] follow_links"),
    ],
)
def test_9_bad_qa_toml_is_one_line_naming_file_and_table(
    tmp_path: Path, toml: str, message: str
) -> None:
    notes = make_notes(tmp_path / "notes")
    (notes / "qa.toml").write_text(toml)
    result = qa("ask", "dropout", *where(notes))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"qa: error: {notes / 'qa.toml'}: ")
    assert message in line


# ---------------------------------------------------------------- 10. tampered index


def rewrite_manifest(gen: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    path = gen / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def rewrite_sections(gen: Path, change: Callable[[dict[str, Any]], Any], first_only=True) -> None:
    path = gen / "sections.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records[:1] if first_only else records:
        change(record)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def set_file(record: dict[str, Any], file: str) -> None:
    record["locations"][0]["file"] = file


def save_npy(gen: Path, name: str, change: Callable[[np.ndarray], np.ndarray]) -> None:
    path = gen / "bm25" / f"{name}.csc.index.npy"
    np.save(path, change(np.load(path)), allow_pickle=False)


def rewrite_json(gen: Path, name: str, change: Callable[[Any], Any]) -> None:
    path = gen / name
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def write(gen: Path, name: str, data: bytes) -> None:
    (gen / name).write_bytes(data)


def huge_npy_header(gen: Path) -> None:
    path = gen / "bm25" / "data.csc.index.npy"
    header = {"descr": "<f4", "fortran_order": False, "shape": (10**11,)}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(b"\x00" * 64)


def other_dim_faiss(gen: Path) -> None:
    import faiss

    index = faiss.IndexFlatIP(8)
    index.add(np.zeros((5, 8), dtype=np.float32))
    faiss.write_index(index, str(gen / "vectors.fake.faiss"))


def manifest_key(key: str, value: Any) -> Callable[[Path], None]:
    return lambda gen: rewrite_manifest(gen, lambda m: m.update({key: value}))


def channel_key(channel: str, key: str, value: Any) -> Callable[[Path], None]:
    return lambda gen: rewrite_manifest(gen, lambda m: m["channels"][channel].update({key: value}))


def section_key(key: str, value: Any) -> Callable[[Path], None]:
    return lambda gen: rewrite_sections(gen, lambda r: r.update({key: value}))


def location_key(key: str, value: Any) -> Callable[[Path], None]:
    return lambda gen: rewrite_sections(gen, lambda r: r["locations"][0].update({key: value}))


TAMPERING: dict[str, Callable[[Path], None]] = {
    "CURRENT not UTF-8": lambda gen: (gen.parent / CURRENT).write_bytes(b"gen-\xff\xfe\n"),
    "CURRENT points outside": lambda gen: (gen.parent / CURRENT).write_text("../../etc\n"),
    "CURRENT empty": lambda gen: (gen.parent / CURRENT).write_text(""),
    "CURRENT names no generation": lambda gen: (gen.parent / CURRENT).write_text("gen-x\n"),
    "manifest not JSON": lambda gen: write(gen, "manifest.json", b"{nope"),
    "manifest not UTF-8": lambda gen: write(gen, "manifest.json", b'{"a": "\xff"}'),
    "manifest a list": lambda gen: write(gen, "manifest.json", b"[]"),
    "manifest missing": lambda gen: (gen / "manifest.json").unlink(),
    "channels a list": manifest_key("channels", []),
    "channels empty": manifest_key("channels", {}),
    "channel a number": lambda gen: rewrite_manifest(gen, lambda m: m["channels"].update(bm25=5)),
    "chunks a string": manifest_key("chunks", "x"),
    "chunks too many": manifest_key("chunks", 10**9),
    "notes a list": manifest_key("notes", []),
    "note record a string": manifest_key("notes", {"deep-learning.md": "x"}),
    "index_settings a number": manifest_key("index_settings", 5),
    "models a string": lambda gen: rewrite_manifest(
        gen, lambda m: m["index_settings"].update(models="fake")
    ),
    "corpus a number": manifest_key("corpus", 5),
    "dim a string": channel_key("fake", "dim", "x"),
    "dim huge": channel_key("fake", "dim", 10**9),
    "centroid too short": channel_key("fake", "centroid", [0.1, 0.2]),
    "centroid of strings": channel_key("fake", "centroid", ["a"] * 64),
    "centroid not finite": channel_key("fake", "centroid", [1e400] * 64),
    "model_id a list": channel_key("fake", "model_id", []),
    "vector file absolute": channel_key("fake", "file", "/etc/hostname"),
    "hashes file outside": channel_key("fake", "hashes_file", "../../etc/passwd"),
    "unit vectors outside": channel_key("fake", "units_file", "../../etc/passwd"),
    "unit keys a number": channel_key("fake", "units_keys_file", 5),
    "unit vectors without keys": channel_key("fake", "units_keys_file", ""),
    "unit vectors truncated": lambda gen: write(
        gen, "units.fake.npy", (gen / "units.fake.npy").read_bytes()[:200]
    ),
    "unit vectors float64": lambda gen: np.save(
        gen / "units.fake.npy", np.zeros((2, 64)), allow_pickle=False
    ),
    "unit keys missing": lambda gen: (gen / "units.fake.keys").unlink(),
    "bm25 dir absolute": channel_key("bm25", "dir", "/etc"),
    "tokens file absolute": channel_key("bm25", "tokens_file", "/etc/passwd"),
    "sections not JSON": lambda gen: write(gen, "sections.jsonl", b"{nope\n"),
    "sections not UTF-8": lambda gen: write(gen, "sections.jsonl", b'{"id": "\xff"}\n'),
    "section a list": lambda gen: write(gen, "sections.jsonl", b"[1, 2]\n" * 5),
    "locations empty": section_key("locations", []),
    "heading_path empty": section_key("heading_path", []),
    "heading_path of numbers": section_key("heading_path", [1, 2]),
    "text a number": section_key("text", 5),
    "id missing": lambda gen: rewrite_sections(gen, lambda r: r.pop("id")),
    "file absolute": location_key("file", "/etc/passwd"),
    "file climbs out": location_key("file", "../../etc/passwd"),
    "start_line a string": location_key("start_line", "x"),
    "start_line negative": location_key("start_line", -5),
    "sections a line short": lambda gen: write(
        gen, "sections.jsonl", b"".join((gen / "sections.jsonl").read_bytes().splitlines(True)[1:])
    ),
    "indices out of range": lambda gen: save_npy(gen, "indices", lambda a: a + 10**6),
    "indices negative": lambda gen: save_npy(gen, "indices", lambda a: a - 10**6),
    "indptr decreasing": lambda gen: save_npy(gen, "indptr", lambda a: a[::-1].copy()),
    "indptr past the data": lambda gen: save_npy(gen, "indptr", lambda a: a * 1000),
    "data of strings": lambda gen: save_npy(gen, "data", lambda a: a.astype("U8")),
    "data not finite": lambda gen: save_npy(gen, "data", lambda a: a * np.inf),
    "npy truncated": lambda gen: write(gen, "bm25/indices.csc.index.npy", b"\x93NUMPY"),
    "npy claims 10^11 values": huge_npy_header,
    "vocab values strings": lambda gen: rewrite_json(
        gen, "bm25/vocab.index.json", lambda v: {k: str(i) for k, i in v.items()}
    ),
    "vocab a list": lambda gen: rewrite_json(gen, "bm25/vocab.index.json", lambda v: list(v)),
    "vocab ids past the arrays": lambda gen: rewrite_json(
        gen, "bm25/vocab.index.json", lambda v: {k: i + 10**6 for k, i in v.items()}
    ),
    "num_docs 10^11": lambda gen: rewrite_json(
        gen, "bm25/params.index.json", lambda p: {**p, "num_docs": 10**11}
    ),
    "num_docs a string": lambda gen: rewrite_json(
        gen, "bm25/params.index.json", lambda p: {**p, "num_docs": "x"}
    ),
    "params a list": lambda gen: write(gen, "bm25/params.index.json", b"[]"),
    "faiss truncated": lambda gen: write(
        gen, "vectors.fake.faiss", (gen / "vectors.fake.faiss").read_bytes()[:100]
    ),
    "faiss garbage": lambda gen: write(gen, "vectors.fake.faiss", b"\x00" * 4096),
    "faiss of another dimension": other_dim_faiss,
    "mined glossary garbage": lambda gen: write(gen, "glossary.mined.jsonl", b"{nope\n[1]\n"),
    "mined glossary wrong types": lambda gen: write(
        gen, "glossary.mined.jsonl", b'{"forms": 5, "source": []}\n'
    ),
    "left-out pairs garbage": lambda gen: write(gen, "glossary.left-out.jsonl", b"[1]\n{"),
    "left-out pairs without why": lambda gen: write(
        gen, "glossary.left-out.jsonl", b'{"forms": ["a", "b"], "source": "x", "why": 3}\n'
    ),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One notes folder and its index, copied for each tampering case."""
    root = tmp_path_factory.mktemp("tamper")
    notes = make_notes(root / "notes", {"pairs.md": "# 过拟合（Overfitting）\n\n训练集好。\n"})
    index = root / "index"
    result = qa("build", *where(notes, index))
    assert result.exit_code == 0, result.output
    return notes, index


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_10_a_tampered_index_is_rebuilt_or_one_line(
    pristine: tuple[Path, Path], tmp_path: Path, case: str
) -> None:
    notes, template = pristine
    index = tmp_path / "index"
    shutil.copytree(template, index)
    TAMPERING[case](current_generation(index))
    refused = qa("ask", "why does dropout help", "--json", "--no-build", *where(notes, index))
    assert refused.exception is None or isinstance(refused.exception, SystemExit), repr(
        refused.exception
    )
    assert "internal error" not in refused.stderr
    if refused.exit_code:
        assert refused.exit_code == 1
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert refused.stderr.startswith("qa: error: ")
        assert "qa build" in refused.stderr
    else:
        assert json.loads(refused.stdout)["hits"]
    answered = qa("ask", "why does dropout help", "--json", *where(notes, index))
    assert answered.exit_code == 0, answered.output
    assert json.loads(answered.stdout)["hits"][0]["heading"] == "Dropout"
    assert qa("glossary", *where(notes, index)).exit_code == 0


def test_10_tampering_cases_cover_the_issue() -> None:
    assert len(TAMPERING) >= 43


# ---------------------------------------------------------------- 11. smaller things


def test_11_stale_temporaries_are_removed_under_the_lock_at_the_next_build(
    tmp_path: Path,
) -> None:
    notes = make_notes(tmp_path / "notes")
    index = tmp_path / "index"
    stale = index / ".gen-20260101T000000000000-1.tmp"
    (stale / "bm25").mkdir(parents=True)
    (stale / "vectors.fake.faiss").write_bytes(b"\x00" * 1000)
    seen: list[bool] = []

    def progress(stage: str, done: int, total: int) -> None:
        seen.append(stale.exists())

    class Boom(Exception):
        pass

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise Boom

    import qa.store.build

    real = qa.store.build.build_bm25
    qa.store.build.build_bm25 = fail  # type: ignore[assignment]
    try:
        with pytest.raises(Boom):
            build_index(notes, index, settings_of(notes), progress=progress)
    finally:
        qa.store.build.build_bm25 = real  # type: ignore[assignment]
    assert seen and not any(seen)
    assert not stale.exists()
    assert not [p for p in index.iterdir() if p.name.endswith(".tmp")]


def test_11_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import qa.cli

    def interrupted(*args: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(qa.cli, "library", interrupted)
    monkeypatch.setattr(sys, "argv", ["qa", "ask", "dropout"])
    with pytest.raises(SystemExit) as exit_:
        qa.cli.run()
    assert exit_.value.code == 130


def test_11_the_question_history_is_private(tmp_path: Path) -> None:
    from qa.study import history as questions  # what the chat screen records with

    history = tmp_path / "state" / "qa" / "history.jsonl"
    questions.record(history, questions.asked("what is my secret diagnosis", "chat"))
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    history.chmod(0o644)
    questions.record(history, questions.asked("another", "chat"))
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-16-le"])
def test_11_utf16_notes_with_a_bom_are_read(codec: str) -> None:
    text = "# 过拟合\n\nOverfitting means memorising.\n"
    raw = text.encode(codec)
    if codec != "utf-16":
        raw = ("\ufeff" + text).encode(codec)
    decoded, problem = decode_note(raw, "u.md")
    assert decoded == text
    assert problem is None


def test_11_an_editor_that_cannot_run_is_named_and_replaced(tmp_path: Path) -> None:
    from qa.tui.editor import editor_command, editor_problem

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    vi = bin_dir / "vi"
    vi.write_text("#!/bin/sh\n")
    vi.chmod(0o755)
    env = {"EDITOR": "no-such-editor-for-qa", "PATH": str(bin_dir)}
    assert editor_command(tmp_path / "n.md", 3, env, search=str(bin_dir)) == [
        str(vi),
        "+3",
        str(tmp_path / "n.md"),
    ]
    assert editor_problem(env, search=str(bin_dir)) == (
        "$EDITOR is set to 'no-such-editor-for-qa', which cannot be run"
    )
    assert editor_problem({"PATH": str(bin_dir)}, search=str(bin_dir)) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert editor_command(tmp_path / "n.md", 3, env, search=str(empty)) is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"relevant": []}', ':2: missing "question"'),
        ('["what is dropout"]', ":2: each line must be a JSON object, not a list"),
        ('{"question": 5}', ":2: question must be a non-empty string"),
        ('"just a string"', ":2: each line must be a JSON object, not a string"),
    ],
)
def test_11_eval_names_the_line_and_the_problem(tmp_path: Path, line: str, message: str) -> None:
    from qa.eval.evaluate import LabelError, load_labelled

    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "ok", "relevant": []}\n' + line + "\n")
    with pytest.raises(LabelError) as err:
        load_labelled(path)
    assert str(err.value) == f"{path}{message}"
