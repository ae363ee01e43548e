"""The qa command: output shapes, exit codes and one-line errors."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FAKE

from qa.cli import main
from qa.library import Library

SMALL = Path(__file__).parent / "fixtures" / "small"
HIT_KEYS = {
    "rank",
    "score",
    "file",
    "start_line",
    "end_line",
    "heading",
    "heading_path",
    "text",
    "answered",
}


@pytest.fixture
def small(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    shutil.copytree(SMALL, folder)
    return folder


def qa(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def opts(corpus: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(corpus.parent / "index"), "--model", "fake"]


def test_ask_json_shape(small: Path) -> None:
    result = qa("ask", "why does dropout help", "--json", "--top", "2", *opts(small))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question"] == "why does dropout help"
    assert isinstance(data["declined"], bool) and 0 <= data["confidence"] <= 1
    first = data["hits"][0]
    assert set(first) >= HIT_KEYS
    assert first["rank"] == 1
    assert first["heading"] == "Dropout"
    assert first["heading_path"] == ["Deep learning", "Dropout"]
    assert (first["file"], first["start_line"], first["end_line"]) == ("deep-learning.md", 3, 6)
    assert first["answered"] is True
    assert "randomly zeroes units" in first["text"]


def test_ask_human_output(small: Path) -> None:
    result = qa("ask", "why does dropout help", "--top", "1", *opts(small))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1. deep-learning.md:3  (score ")
    assert lines[1].strip() == "Deep learning › Dropout"
    assert "Dropout randomly zeroes units" in result.stdout


def test_batch_questions_on_stdin_give_jsonl(small: Path) -> None:
    stdin = "why does dropout help\n\n置信区间是什么意思\n???\n"
    result = qa("ask", *opts(small), input=stdin)
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    questions = [r["question"] for r in records]
    assert questions == ["why does dropout help", "", "置信区间是什么意思", "???"]  # one a line
    assert records[1] == {"question": "", "error": "the question is empty", "hits": []}
    assert records[2]["hits"][0]["heading"] == "置信区间（Confidence Interval）"
    assert records[3] == {"question": "???", "error": "the question has no words in it", "hits": []}


def test_unanswered_heading_is_marked(small: Path) -> None:
    result = qa("ask", "what is a transformer", "--json", *opts(small))
    data = json.loads(result.stdout)
    unanswered = data["unanswered"]
    assert [h["heading"] for h in unanswered] == ["What is a transformer?"]
    assert unanswered[0]["text"] == "" and unanswered[0]["answered"] is False
    assert all(h["answered"] for h in data["hits"])


def test_a_heading_with_only_a_link_is_shown_as_unanswered_with_its_link(small: Path) -> None:
    note = small / "deep-learning.md"
    note.write_text(
        note.read_text(encoding="utf-8")
        + "\n## Layer normalization\n\n> [Layer norm explained](https://example.com/ln) - blog\n",
        encoding="utf-8",
    )
    data = json.loads(qa("ask", "what is layer normalization", "--json", *opts(small)).stdout)
    assert "Layer normalization" not in [h["heading"] for h in data["hits"]]
    assert [h["heading"] for h in data["unanswered"]] == ["Layer normalization"]
    out = qa("ask", "what is layer normalization", *opts(small)).stdout
    notice = out[out.index("Your notes ask this but do not answer it yet:") :].splitlines()
    assert notice[1].endswith("Deep learning › Layer normalization")
    assert notice[2].strip() == "> [Layer norm explained](https://example.com/ln) - blog"


def test_top_n_json_gives_at_most_n_hits(small: Path) -> None:
    """An unanswered heading is a notice of its own, never an extra hit."""
    data = json.loads(
        qa("ask", "what is a transformer", "--top", "1", "--json", *opts(small)).stdout
    )
    assert len(data["hits"]) == 1 and data["unanswered"]


def test_qa_alone_takes_the_chat_options(small: Path) -> None:
    # --corpus is accepted before any command; a missing folder is the usual one-line error.
    result = subprocess.run(
        [sys.executable, "-m", "qa", "--corpus", str(small / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "No such option" not in result.stderr and "nope" in result.stderr
    misplaced = subprocess.run(
        [sys.executable, "-m", "qa", "--corpus", str(small), "ask", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert misplaced.returncode == 2 and "after the command" in misplaced.stderr


def test_a_closed_pipe_ends_quietly(small: Path) -> None:
    """`qa ask … | head`: no "Broken pipe" error and the usual exit status."""
    (small / "qa.toml").write_text("[settings.default]\nmodels = []\n")  # BM25 only: quick
    index = str(small.parent / "index")
    # The index is built here, in-process; only the ask whose reader goes away is a process.
    assert qa("build", "--corpus", str(small), "--index", index).exit_code == 0
    cmd = [sys.executable, "-m", "qa", "ask", "what is dropout", "--top", "20"]
    ask = subprocess.Popen(
        [*cmd, "--corpus", str(small), "--index", index],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert ask.stdout is not None and ask.stderr is not None
    ask.stdout.close()  # the reader is gone before qa writes a line (head -c 0)
    code = ask.wait(timeout=120)
    stderr = ask.stderr.read().decode()
    assert code == 0, stderr
    assert "Broken pipe" not in stderr and "error" not in stderr


@pytest.mark.parametrize("lexical", [True, False])
def test_unanswered_heading_needs_a_word_of_the_question(small: Path, lexical: bool) -> None:
    # With BM25 the check reads its postings; without, it tokenizes the heading.
    settings = replace(FAKE, lexical=lexical)
    searcher = Library(small, small.parent / "index", settings).open()
    assert searcher.index.lexical is None or lexical
    shown = searcher.search("what is a transformer", 5).unanswered
    assert [h.chunk.heading for h in shown] == ["What is a transformer?"]
    assert searcher.search("what is batch normalization", 5).unanswered == []


def test_build_reports_what_changed(small: Path) -> None:
    first = qa("build", *opts(small))
    assert first.exit_code == 0
    assert "Since the last build, by place: 5 added, 0 changed, 0 removed, 0 unchanged." in (
        first.stdout
    )
    (small / "statistics.md").write_text(
        (small / "statistics.md").read_text(encoding="utf-8").replace("whatever", "regardless of"),
        encoding="utf-8",
    )
    second = qa("build", *opts(small))
    assert "by place: 0 added, 1 changed, 0 removed, 4 unchanged." in second.stdout
    assert "Texts embedded (new to each model): fake 1, e5 1." in second.stdout


def test_build_counts_agree_when_a_section_appears_twice(small: Path) -> None:
    """A section copied into another note is one section in two places, and says so."""
    text = (small / "deep-learning.md").read_text(encoding="utf-8")
    dropout = text[text.index("## Dropout") : text.index("## Batch normalization")]
    (small / "copy.md").write_text("# Copy\n\n" + dropout, encoding="utf-8")
    out = qa("build", *opts(small)).stdout
    assert "into 5 sections" in out and "1 appearance more" in out
    assert "by place: 6 added" in out  # 5 sections, 6 places


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", ""], "qa: error: the question is empty"),
        (["ask", "   "], "qa: error: the question is empty"),
        (["ask", "!!!"], "qa: error: the question has no words in it"),
    ],
)
def test_bad_questions_are_one_line_errors(small: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, [*args, *opts(small)])
    assert result.exit_code == 1
    assert result.stderr.strip() == message


def test_missing_and_empty_corpus(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ask", "x", *opts(tmp_path / "missing")])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"qa: error: notes folder not found: {tmp_path / 'missing'}"
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["build", *opts(tmp_path / "empty")])
    assert result.exit_code == 1
    assert "no Markdown notes (*.md) found" in result.stderr


def test_an_index_folder_that_cannot_be_made_is_one_line(small: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(
        main, ["build", "--corpus", str(small), "--index", str(blocker / "index")]
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == f"qa: error: not a directory: {blocker / 'index'}"


def test_unreadable_note_is_a_warning_and_the_rest_still_answers(small: Path) -> None:
    (small / "broken.md").write_bytes(b"# Broken\n\xff\xfe\xfa\xfb")
    result = CliRunner().invoke(main, ["build", *opts(small)])
    assert result.exit_code == 0
    assert "qa: warning: broken.md: not valid UTF-8" in result.stderr
    assert "Indexed 2 notes" in result.stdout


def test_unknown_model_lists_the_valid_names(small: Path) -> None:
    result = CliRunner().invoke(main, ["ask", "x", "--corpus", str(small), "--model", "nope"])
    assert result.exit_code == 1
    assert result.stderr.startswith("qa: error: unknown model 'nope'; choose one of: ")
    assert "minilm" in result.stderr


def test_index_built_with_another_model_says_to_rebuild(small: Path) -> None:
    assert qa("build", *opts(small)).exit_code == 0
    index = str(small.parent / "index")
    result = CliRunner().invoke(
        main,
        [
            "ask",
            "dropout",
            "--corpus",
            str(small),
            "--index",
            index,
            "--no-build",
            "--model",
            "minilm",
        ],
    )
    assert result.exit_code == 1
    assert "run `qa build --model minilm`" in result.stderr


def test_eval_reports_metrics_and_declines(small: Path) -> None:
    result = qa("eval", "--json", *opts(small))
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["counts"] == {"all": 3, "en": 2, "zh": 1}
    assert set(report["metrics"]["all"]) == {
        "hit@1",
        "hit@3",
        "hit@5",
        "mrr@10",
        "ndcg@10",
        "recall@10",
    }
    assert report["declines"]["all"]["off_topic"] == 1


def test_eval_with_a_broken_labelled_file(small: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok", "relevant": []}\nnot json\n')
    result = CliRunner().invoke(main, ["eval", "--questions", str(bad), *opts(small)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"qa: error: {bad}:2: ")


def test_the_installed_command_never_shows_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "qa", "ask", "x", "--corpus", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"qa: error: notes folder not found: {tmp_path / 'nope'}"


def test_asking_with_another_model_is_an_error_not_a_silent_rebuild(small: Path) -> None:
    assert qa("build", *opts(small)).exit_code == 0
    index = str(small.parent / "index")
    result = CliRunner().invoke(
        main, ["ask", "dropout", "--corpus", str(small), "--index", index, "--model", "minilm"]
    )
    assert result.exit_code == 1
    assert "the index has no vectors for model 'minilm'" in result.stderr
    assert "run `qa build --model minilm`" in result.stderr


def test_the_model_chosen_at_build_time_is_remembered(small: Path) -> None:
    assert qa("build", *opts(small)).exit_code == 0
    index = str(small.parent / "index")
    result = qa("ask", "why does dropout help", "--json", "--corpus", str(small), "--index", index)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["hits"][0]["heading"] == "Dropout"


def test_eval_warns_of_a_label_that_matches_no_section(small: Path) -> None:
    questions = small / "mine.jsonl"
    questions.write_text(
        '{"question": "why does dropout help", "relevant": ["Dropuot"]}\n'
        '{"question": "what is batch norm", "relevant": ["Batch normalization"]}\n'
    )
    result = qa("eval", "--questions", str(questions), *opts(small))
    assert result.exit_code == 0, result.output
    assert "line 1: label 'Dropuot' matches no section; closest headings: Dropout" in (
        result.stderr
    )
    assert "Batch normalization" not in result.stderr
    # No off-topic question in the set: its decline rate is not a rate of zero.
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ all")]
    cells = [cell.strip() for cell in rows[-1].strip("│").split("│")]
    assert cells[1:3] == ["0", "—"]  # off-topic questions, off-topic declined


def test_human_output_says_how_sure_it_is(small: Path) -> None:
    out = qa("ask", "why does dropout help", *opts(small)).stdout
    first = out.splitlines()[0]
    assert first.startswith("1. deep-learning.md:") and "%" in first
    assert any(word in first for word in ("strong match", "likely", "weak match"))


def test_files_prints_one_path_and_line_per_hit(small: Path) -> None:
    out = qa("ask", "why does dropout help", "--files", "--top", "2", *opts(small)).stdout
    lines = out.splitlines()
    assert len(lines) == 2
    path, line = lines[0].rsplit(":", 1)
    assert Path(path) == small / "deep-learning.md" and line == "3"
    assert Path(path).read_text(encoding="utf-8").splitlines()[int(line) - 1] == "## Dropout"


def one_note(tmp_path: Path, text: str) -> Path:
    """A notes folder holding one note with ``text``."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text(text, encoding="utf-8")
    return notes


def test_glossary_lists_mined_pairs_once_and_a_veto_drops_one(tmp_path: Path) -> None:
    notes = one_note(
        tmp_path,
        "# 集成学习\n\n集成学习（Ensemble Learning）结合多个模型。\n\n"
        "## Bagging\n\nBagging 方法（Bootstrap AGGregatING）并行训练。\n\n"
        "## 提升\n\n另见：集成学习（Ensemble Learning）。梯度树（Gradient Tree）。\n",
    )
    listed = qa("glossary", *opts(notes))
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert sum("集成学习 = Ensemble Learning" in line for line in lines) == 1  # found twice
    assert any("梯度树 = Gradient Tree" in line for line in lines)
    left_out = lines.index("Left out (1):")
    assert "方法 = Bootstrap AGGregatING" in lines[left_out + 1]  # 方法 means "method"
    assert not (notes / "glossary.tsv").exists()

    vetoed = qa("glossary", "--veto", "梯度树 = Gradient Tree", *opts(notes))
    assert vetoed.exit_code == 0, vetoed.output
    assert "!梯度树 = Gradient Tree" in (notes / "glossary.tsv").read_text(encoding="utf-8")
    lines = vetoed.stdout.splitlines()
    assert lines[0].startswith("Vetoed 梯度树 = Gradient Tree in ")
    mined = lines[1 : lines.index("Left out (2):")]
    assert mined[0].startswith("Glossary:") and not any("梯度树" in line for line in mined)
    assert any("梯度树 = Gradient Tree" in line and "vetoed" in line for line in lines)
    again = qa("glossary", "--veto", "梯度树 = Gradient Tree", *opts(notes))
    assert (notes / "glossary.tsv").read_text(encoding="utf-8").count("!梯度树") == 1, again.output
    empty = qa("glossary", "--veto", " = ", *opts(notes))
    assert empty.exit_code != 0 and "needs a pair" in empty.output


def test_a_veto_keeps_the_glossary_file_as_it_was_and_says_when_it_drops_nothing(
    tmp_path: Path,
) -> None:
    notes = one_note(tmp_path, "# 树\n\n梯度树（Gradient Tree）很好。\n")
    shared = tmp_path / "shared.tsv"
    shared.write_bytes("量子纠缠\tquantum entanglement\r\n".encode())
    (notes / "glossary.tsv").symlink_to(shared)
    vetoed = qa("glossary", "--veto", "梯度树\tGradient Tree", *opts(notes))
    assert vetoed.exit_code == 0, vetoed.output
    assert (notes / "glossary.tsv").is_symlink()  # written in place, through the link
    assert (
        shared.read_bytes()
        == "量子纠缠\tquantum entanglement\r\n!梯度树\tGradient Tree\r\n".encode()
    )
    assert any(
        "梯度树 = Gradient Tree" in line and "vetoed" in line for line in vetoed.stdout.splitlines()
    )
    nothing = qa("glossary", "--veto", "没有 = Nothing", *opts(notes))
    assert nothing.exit_code == 0 and "the veto drops nothing" in nothing.stdout
    two = qa("glossary", "--veto", "a = b\n!c", *opts(notes))
    assert two.exit_code != 0 and "one line" in two.output


def test_a_glossary_file_not_in_utf8_is_one_line_and_ignored_without_the_glossary(
    tmp_path: Path,
) -> None:
    notes = one_note(tmp_path, "# Dropout\n\nDropout zeroes units.\n")
    (notes / "glossary.tsv").write_bytes("过拟合\toverfitting\n".encode("gbk"))
    result = CliRunner().invoke(main, ["build", *opts(notes)])
    assert result.exit_code != 0 and "not UTF-8" in result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    # Without the glossary (a preset may turn it off), the file is not read at all.
    from dataclasses import replace

    from conftest import FAKE

    from qa.library import Library

    off = Library(notes, tmp_path / "off", replace(FAKE, glossary=False))
    assert off.build().chunks == 1
