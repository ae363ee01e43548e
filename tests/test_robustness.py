"""Hostile notes, hostile questions, damaged indexes, killed builds, concurrent use."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.library import Library
from qa.retrieve.search import QuestionError, Searcher
from qa.settings import Settings
from qa.store.build import build_index
from qa.store.chunking import chunk_markdown
from qa.store.index import CURRENT, Index, IndexBusy, build_lock, current_generation

TESTS = Path(__file__).parent

# ---------------------------------------------------------------- chunker properties

WORD = st.sampled_from(
    [
        "dropout",
        "batch",
        "norm",
        "过拟合",
        "正则化",
        "loss",
        "SVM",
        "$x^2$",
        "**bold**",
        "`code`",
        "1.",
        "a-b",
        "###x",
    ]
)
LINE = st.lists(WORD, min_size=1, max_size=6).map(" ".join)
BLOCK = st.one_of(
    st.tuples(st.integers(1, 6), LINE).map(lambda t: ("heading", "#" * t[0] + " " + t[1])),
    st.lists(LINE, min_size=1, max_size=3).map(lambda ls: ("para", "\n".join(ls))),
    st.lists(LINE, min_size=1, max_size=4).map(
        lambda ls: ("list", "\n".join("- " + line for line in ls))
    ),
    st.lists(LINE, min_size=0, max_size=3).map(
        lambda ls: ("code", "```\n" + "\n".join(ls) + "\n```")
    ),
)
DOC = st.lists(BLOCK, min_size=0, max_size=25)


def render(blocks: list[tuple[str, str]]) -> str:
    return "\n\n".join(text for _, text in blocks) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOC, st.integers(60, 2000))
def test_random_markdown_never_crashes_and_every_body_line_lands_once(blocks, window) -> None:
    text = render(blocks)
    sections = chunk_markdown(text, "r.md", window_chars=window)
    lines = text.split("\n")
    heading_lines = {
        i + 1 for i, line in enumerate(lines) if line.startswith("#") and _is_heading(lines, i)
    }
    body_lines = [
        n
        for n, line in enumerate(lines, start=1)
        if line.strip() and n not in heading_lines and line.strip() != "```"
    ]
    for n in body_lines:
        owners = [s for s in sections if s.body and s.start_line <= n <= s.end_line]
        assert len(owners) == 1, (n, lines[n - 1], [(s.start_line, s.end_line) for s in owners])
        assert lines[n - 1].strip() in owners[0].body


def _is_heading(lines: list[str], i: int) -> bool:
    """A '#' line outside a code fence, as CommonMark sees it."""
    fences = sum(1 for line in lines[:i] if line.strip() == "```")
    return fences % 2 == 0 and lines[i].split(" ", 1)[0] in {"#" * k for k in range(1, 7)}


@settings(max_examples=200, deadline=None)
@given(DOC)
def test_heading_paths_follow_the_headings_above(blocks) -> None:
    text = render(blocks)
    lines = text.split("\n")
    for section in chunk_markdown(text, "r.md"):
        if not section.level:
            continue
        line = lines[section.section_line - 1]
        assert line.startswith("#" * section.level + " ")
        # The path is the nearest heading of each lower level above this one.
        expected = []
        level = section.level
        for i in range(section.section_line - 1, -1, -1):
            if _is_heading(lines, i):
                depth = len(lines[i].split(" ", 1)[0])
                if depth < level or i == section.section_line - 1:
                    expected.insert(0, depth)
                    level = depth
        assert len(section.heading_path) == len(expected)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_at_all_can_be_chunked(text: str) -> None:
    for section in chunk_markdown(text, "t.md"):
        assert section.start_line <= section.end_line or not section.answered


# ---------------------------------------------------------------- hostile notes


def test_hostile_notes_are_reported_and_the_rest_indexed(
    notes: Path, tmp_path: Path, fake_settings, monkeypatch
) -> None:
    (notes / "binary.md").write_bytes(bytes(range(256)) * 10)
    (notes / "latin1.md").write_bytes("# Café\n\nnaïve \xe9t\xe9".encode("latin-1") + b"\xff")
    (notes / "huge.md").write_bytes(b"# Huge\n\n" + b"word " * (11 * 1024 * 1024 // 5))
    (notes / "deep.md").write_text("# Deep\n\n" + "> " * 3000 + "bottom\n\n" + "- " * 3000 + "x\n")
    (notes / "headings-only.md").write_text("# A\n## B\n### C\n")
    (notes / "sub").mkdir()
    os.symlink(notes, notes / "sub" / "loop")
    (notes / "locked.md").write_text("# Locked\n\nsecret\n")
    import qa.store.notes

    real_read = qa.store.notes.read_limited

    def read_limited(path: Path, limit: int) -> bytes | None:
        if path.name == "locked.md":  # the tests run as root: chmod would not stop them
            raise PermissionError(13, "Permission denied")
        return real_read(path, limit)

    monkeypatch.setattr(qa.store.notes, "read_limited", read_limited)
    report = build_index(notes, tmp_path / "idx", fake_settings)
    messages = {p.path: p.message for p in report.problems}
    assert messages["binary.md"] == "looks like a binary file, not Markdown; skipped"
    assert "not valid UTF-8" in messages["latin1.md"]
    assert messages["huge.md"].startswith("too large (11 MB > 10 MB)")
    assert messages["locked.md"] == "cannot read (Permission denied); skipped"
    assert "symlink loop" in messages["sub/loop"]
    index = Index.load(tmp_path / "idx")
    files = {loc.file for c in index.chunks for loc in c.locations}
    assert {"deep.md", "headings-only.md", "ml-interview-prep.md"} <= files
    assert [c.heading for c in index.chunks if c.location.file == "headings-only.md"] == ["C"]


# ---------------------------------------------------------------- hostile questions


@pytest.fixture
def fake_searcher(notes: Path, tmp_path: Path, fake_settings) -> Searcher:
    build_index(notes, tmp_path / "idx", fake_settings)
    return Searcher(Index.load(tmp_path / "idx"), fake_settings)


@pytest.mark.parametrize(
    "question",
    [
        "x" * 1_000_000,
        "what is\x00 drop\x07out\x1b[31m",
        "dropout 🤖 是什么？😀",
        "Dropout と正則化の違いは",
        "ReLU или sigmoid",
        "\u200bdropout\u200b",
        "a" * 3,
    ],
)
def test_odd_questions_are_answered(fake_searcher: Searcher, question: str) -> None:
    answer = fake_searcher.search(question, 3)
    assert len(answer.question) <= 2000
    assert "\x00" not in answer.question and "\x1b" not in answer.question
    assert all(h.answered for h in answer.hits)


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "the question is empty"),
        (" \t\n ", "the question is empty"),
        ("?!…。", "the question has no words in it"),
        ("😀😀", "the question has no words in it"),
        ("\x00\x01", "the question is empty"),
    ],
)
def test_unanswerable_questions_are_refused_clearly(
    fake_searcher: Searcher, question: str, message: str
) -> None:
    with pytest.raises(QuestionError, match=f"^{message}$"):
        fake_searcher.search(question)


# ---------------------------------------------------------------- damaged index


def test_damaged_index_is_rebuilt_automatically(notes: Path, tmp_path: Path, fake_settings) -> None:
    idx = tmp_path / "idx"
    build_index(notes, idx, fake_settings)
    (current_generation(idx) / "sections.jsonl").write_text("{not json\n")
    searcher = Library(notes, idx, fake_settings).open()
    assert searcher.search("dropout").hits
    (current_generation(idx) / "bm25" / "vocab.index.json").unlink()
    assert Library(notes, idx, fake_settings).open().search("dropout").hits
    (idx / CURRENT).write_text("../../etc\n")
    assert Library(notes, idx, fake_settings).open().search("dropout").hits


# ---------------------------------------------------------------- concurrency


def test_lock_keeps_a_second_build_out(notes: Path, tmp_path: Path, fake_settings) -> None:
    idx = tmp_path / "idx"
    with build_lock(idx), pytest.raises(IndexBusy, match="another `qa build` is running"):
        build_index(notes, idx, fake_settings, wait=False)


def test_queries_keep_working_while_the_index_is_rebuilt(
    notes: Path, tmp_path: Path, fake_settings
) -> None:
    idx = tmp_path / "idx"
    build_index(notes, idx, fake_settings)
    searcher = Searcher(Index.load(idx), fake_settings)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                Searcher(Index.load(idx), fake_settings).search("batch norm")
                searcher.search("dropout")
            except BaseException as err:
                errors.append(err)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    note = notes / "mle-basics.md"
    for i in range(3):  # three swaps of the generation under the two readers
        note.write_text(
            note.read_text(encoding="utf-8") + f"\n## Edit {i}\n\nmore {i}\n", encoding="utf-8"
        )
        build_index(notes, idx, fake_settings)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []


# ---------------------------------------------------------------- kill -9


CHILD = (
    "import sys; sys.path.insert(0, {tests!r}); import conftest; "
    "from qa.cli import run; sys.argv = ['qa'] + {args!r}; run()"
)


FAKE_ONLY = '[settings.default]\nmodels = ["fake"]\nweights = { bm25 = 1.0, fake = 1.0 }\n'


def qa_child(*args: str) -> list[str]:
    return [sys.executable, "-c", CHILD.format(tests=str(TESTS), args=list(args))]


def test_killing_builds_never_leaves_a_broken_index(
    notes: Path, tmp_path: Path, fake_settings: Settings
) -> None:
    """kill -9 a `qa build --full` at moments spread over a whole build (start-up,
    reading, embedding, writing, the swap); the index always opens and holds the notes
    either before the build or after it, and the next build clears what killed ones left."""
    import hashlib

    idx = tmp_path / "idx"
    # The fake model alone (qa.toml), so that builds take seconds and no e5 graph is made.
    (notes / "qa.toml").write_text(FAKE_ONLY, encoding="utf-8")
    opts = ["--corpus", str(notes), "--index", str(idx)]
    started = time.perf_counter()
    subprocess.run(qa_child("build", *opts), check=True, capture_output=True, timeout=300)
    whole = time.perf_counter() - started
    note = notes / "ml-quick-revision-links.md"
    versions = {Index.load(idx).manifest.notes[note.name].sha256}
    for trial, fraction in enumerate((0.1, 0.3, 0.55, 0.8, 0.9, 1.0)):
        with note.open("a", encoding="utf-8") as f:
            f.write(f"\n{trial}. new link {trial}\n")
        versions.add(hashlib.sha256(note.read_bytes()).hexdigest())
        proc = subprocess.Popen(
            qa_child("build", "--full", *opts), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(fraction * whole)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        index = Index.load(idx)
        assert index.manifest.notes[note.name].sha256 in versions
        assert len(index.chunks) == index.manifest.chunks
        assert Searcher(index, fake_settings).search("dropout").hits
    subprocess.run(qa_child("build", *opts), check=True, capture_output=True, timeout=300)
    temporaries = [p.name for p in idx.iterdir() if p.name.startswith(".gen-")]
    generations = [p.name for p in idx.iterdir() if p.name.startswith("gen-")]
    assert temporaries == []  # killed builds' temporary folders are cleared by the next
    assert len(generations) <= 2  # the one in use and the one before it


def test_qa_watch_reindexes_a_changed_note(notes: Path, tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    # The fake model alone (qa.toml), so that builds take seconds and no e5 graph is made.
    (notes / "qa.toml").write_text(FAKE_ONLY, encoding="utf-8")
    opts = ["--corpus", str(notes), "--index", str(idx)]
    proc = subprocess.Popen(
        qa_child("watch", *opts), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.time() + 240
        while not (idx / CURRENT).exists() and time.time() < deadline:
            time.sleep(0.2)
        first = (idx / CURRENT).read_text()
        time.sleep(1.0)  # let the watcher start
        (notes / "new-note.md").write_text("# Gradient clipping\n\nClip the norm.\n")
        while (idx / CURRENT).read_text() == first and time.time() < deadline:
            time.sleep(0.2)
        index = Index.load(idx)
        assert any("Clip the norm." in c.text for c in index.chunks)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
