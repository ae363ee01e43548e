"""The sentences that answer: splitting passages into units, scoring them, showing them."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from qa.retrieve.answer_span import (
    FEATURES,
    DenseView,
    SpanContext,
    inside,
    locate,
    split_units,
)
from qa.retrieve.confidence import topic_terms

SMALL = Path(__file__).parent / "fixtures" / "small"


def units_of(text: str) -> list[tuple[str, str]]:
    units = split_units(text)
    for u in units:
        assert text[u.start : u.end] == u.text  # offsets slice back to the unit
    return [(u.kind, u.text) for u in units]


# ---------------------------------------------------------------------------- splitting


def test_english_sentences_keep_abbreviations_and_decimals() -> None:
    text = "Dropout zeroes units, e.g. half of them. The rate is 0.5 here! Why? Because."
    assert units_of(text) == [
        ("sentence", "Dropout zeroes units, e.g. half of them."),
        ("sentence", "The rate is 0.5 here!"),
        ("sentence", "Why?"),
        ("sentence", "Because."),
    ]


def test_chinese_sentences_end_at_full_stops_and_semicolons() -> None:
    text = "过拟合是指模型在训练集上表现好。原因是模型太复杂；解决方法：正则化！对吗？"
    assert [t for _, t in units_of(text)] == [
        "过拟合是指模型在训练集上表现好。",
        "原因是模型太复杂；",
        "解决方法：正则化！",
        "对吗？",
    ]


def test_list_items_and_table_rows_are_units() -> None:
    text = (
        "Two kinds:\n\n- **L1**: sparse weights. Feature selection.\n"
        "- L2 keeps all\n  weights small.\n\n"
        "| norm | effect |\n|---|---|\n| L1 | sparse |\n"
    )
    assert units_of(text) == [
        ("sentence", "Two kinds:"),
        ("item", "**L1**: sparse weights."),
        ("item", "Feature selection."),
        ("item", "L2 keeps all\n  weights small."),
        ("row", "| norm | effect |"),
        ("row", "| L1 | sparse |"),
    ]


def test_code_fences_and_math_are_never_cut() -> None:
    text = (
        "The loss is $L = \\frac{1}{n}. \\sum_i x_i$ over samples. Then:\n\n"
        "```python\nx = 1. \n\ny = 2. z\n```\n\n$$\na = b. c\n$$\n\n"
        "第二句。公式 $$x. y$$ 不切。"
    )
    assert units_of(text) == [
        ("sentence", "The loss is $L = \\frac{1}{n}. \\sum_i x_i$ over samples."),
        ("sentence", "Then:"),
        ("code", "```python\nx = 1. \n\ny = 2. z\n```"),
        ("math", "$$\na = b. c\n$$"),
        ("sentence", "第二句。"),
        ("sentence", "公式 $$x. y$$ 不切。"),
    ]


def test_an_unclosed_fence_runs_to_the_end() -> None:
    text = "Intro.\n```\ncode. more\n\nstill code."
    assert units_of(text) == [("sentence", "Intro."), ("code", "```\ncode. more\n\nstill code.")]


def test_headings_are_units_that_are_never_marked() -> None:
    units = split_units("### Why\n\nBecause it helps.")
    assert [(u.kind, u.markable) for u in units] == [("heading", False), ("sentence", True)]


# ---------------------------------------------------------------------------- scoring


def context(question: str, views: dict[str, DenseView] | None = None) -> SpanContext:
    lang = "zh" if any("\u4e00" <= c <= "\u9fff" for c in question) else "en"
    return SpanContext(question, lang, topic_terms(question, None), views or {})


PASSAGE = (
    "Dropout is a regularization technique for neural networks. "
    "Dropout is applied during training only. "
    "Dropout works because it prevents units from co-adapting."
)


def test_a_why_question_prefers_the_sentence_that_gives_a_reason() -> None:
    why = context("why does dropout work")
    assert [u.text for u in why.units(PASSAGE)] == [
        "Dropout works because it prevents units from co-adapting."
    ]
    what = context("what is dropout")
    assert what.units(PASSAGE)[0].text.startswith("Dropout is a regularization")


def test_a_chinese_why_question_prefers_yinwei() -> None:
    text = "Dropout在训练时随机丢弃神经元。Dropout有效是因为它防止神经元共适应。"
    spans = context("Dropout为什么有效").spans(text)
    assert text[spans[0][0] : spans[0][1]] == "Dropout有效是因为它防止神经元共适应。"


def test_a_difference_question_prefers_the_unit_with_both_terms() -> None:
    text = (
        "Bagging trains models on bootstrap samples. "
        "Boosting trains models one after another. "
        "Bagging reduces variance, whereas boosting reduces bias."
    )
    units = context("difference between bagging and boosting").units(text)
    assert units[0].text == "Bagging reduces variance, whereas boosting reduces bias."


def test_a_unit_opening_with_it_after_the_one_with_most_terms_follows_it() -> None:
    """The answer often comes right after the sentence that names the topic: "Momentum
    is an enhancement to SGD. It accumulates…". A unit opening with It / This / So / 这
    gets ``follows_most`` when the unit before it has the passage's most question terms,
    not after a unit with fewer, and not when it opens otherwise."""
    text = (
        "Training uses batches. "
        "Momentum is an enhancement to gradient descent. "
        "It accumulates a decaying average of past gradients. "
        "This is cheap. "
        "Adam adapts each step. "
        "Momentum damps oscillations."
    )
    ctx = context("how does momentum help gradient descent")
    units, lexical, _ = ctx.features(text)
    column = lexical[:, FEATURES.index("follows_most")]
    assert dict(zip([u.text for u in units], column.tolist(), strict=True)) == {
        "Training uses batches.": 0.0,
        "Momentum is an enhancement to gradient descent.": 0.0,
        "It accumulates a decaying average of past gradients.": 1.0,
        "This is cheap.": 0.0,  # after a unit with no term of the question
        "Adam adapts each step.": 0.0,
        "Momentum damps oscillations.": 0.0,  # does not open with an anaphor
    }
    zh = context("动量为什么能加速收敛")
    units, lexical, _ = zh.features("动量能加速收敛。这是因为它累积过去的梯度。学习率很重要。")
    assert lexical[:, FEATURES.index("follows_most")].tolist() == [0.0, 1.0, 0.0]


def test_the_dense_channel_decides_between_equal_sentences() -> None:
    """Two sentences with the same terms: the one nearer the question in the dense
    channel wins; the channel is asked for the stored vectors of the units."""
    text = "Momentum speeds training up. Momentum averages past gradients."
    target = np.array([1.0, 0.0], dtype=np.float32)
    seen: list[str] = []

    def embed(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return np.array([[1.0, 0.0] if "averages" in t else [0.0, 1.0] for t in texts])

    ctx = context("momentum", {"toy": DenseView(target, embed, True)})
    assert [u.text for u in ctx.units(text)] == ["Momentum averages past gradients."]
    assert sorted(seen) == sorted(
        ["Momentum speeds training up.", "Momentum averages past gradients."]
    )


def test_nothing_is_marked_when_no_unit_answers() -> None:
    assert context("how do transformers use attention").spans(PASSAGE) == []
    assert context("what is dropout").spans("") == []


def test_a_passage_whose_heading_names_the_topic_is_marked_though_no_unit_repeats_it() -> None:
    """The passage under "Curse of dimensionality" answers without naming it again; the
    heading says it is on topic. A heading with none of the question's terms does not."""
    text = (
        "When the number of features grows, data points become nearly equidistant. "
        "Distances then say little, so clustering and nearest neighbours degrade."
    )
    ask = context("what is the curse of dimensionality")
    assert ask.spans(text) == []
    on_topic = ask.spans(text, heading="Curse of dimensionality")
    # The best unit first (its neighbour too when it scores within second_within).
    assert on_topic and text[on_topic[0][0] :].startswith(("When the", "Distances"))
    assert ask.spans(text, heading="Clustering") == []
    assert context("how to bake sourdough bread").spans(PASSAGE, heading="Dropout") == []


def test_gold_sentences_are_found_despite_emphasis_and_spacing() -> None:
    text = "Intro. **Dropout** zeroes   units\nat random. End."
    assert locate("Dropout zeroes units at random.", text) == (9, 44)
    assert text[9:44] == "Dropout** zeroes   units\nat random."
    assert locate("not there", text) is None
    assert inside([(0, 10)], [(5, 20)]) == 0.5


# ---------------------------------------------------------------------------- front ends


@pytest.fixture
def small(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    shutil.copytree(SMALL, folder)
    return folder


def opts(corpus: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(corpus.parent / "index"), "--model", "fake"]


def test_json_hits_carry_answer_spans(small: Path) -> None:
    from qa.cli import main

    result = CliRunner().invoke(
        main, ["ask", "why does dropout help", "--json", "--top", "5", *opts(small)]
    )
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    first = hits[0]
    assert first["heading"] == "Dropout"
    assert first["answer_spans"], first
    pieces = [first["text"][a:b] for a, b in first["answer_spans"]]
    assert first["answer"] == "\n".join(pieces)
    assert "randomly zeroes units" in first["answer"]
    assert all(h["answer_spans"] is None and h["answer"] is None for h in hits[3:])
    assert len(hits) > 3


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_human_output_bolds_the_answer_on_a_terminal(
    small: Path, monkeypatch, fake_settings
) -> None:
    from qa.cli import print_answer
    from qa.library import Library

    searcher = Library(small, small.parent / "index", fake_settings).open()
    answer = searcher.search("why does dropout help", 1)
    hit = answer.hits[0]
    a, b = hit.answer_spans[0]
    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    print_answer(answer)
    bold = click.style(hit.chunk.text[a:b].split("\n")[0], bold=True)
    assert bold in out.getvalue()
    # Not a terminal: no escape codes at all.
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stdout", plain)
    print_answer(answer)
    assert "\x1b[" not in plain.getvalue()
    assert hit.chunk.text[a:b].split("\n")[0] in plain.getvalue()


def test_the_bundled_notes_with_the_real_models(bundled_searcher) -> None:
    answer = bundled_searcher.search("what are gamma and beta in batch norm", 3)
    top = answer.hits[0]
    a, b = top.answer_spans[0]  # the best unit (a neighbour within reach is marked too)
    assert top.chunk.text[a:b] == "Two learnable parameters called beta and gamma."
    assert all(h.answer_spans is not None for h in answer.hits[:3])
    # An off-topic question: the nearest passage has no sentence to mark.
    off = bundled_searcher.search("how to bake sourdough bread", 3)
    assert off.declined and off.hits[0].answer_spans == []


def test_a_chinese_question_counts_its_words_in_the_english_the_notes_use(
    bundled_searcher,
) -> None:
    # 正确 is in no glossary: the span scorer counts it through its CC-CEDICT translation
    # found in the notes ("correct"), as retrieval does (Searcher._bridge). Measured on the
    # dev halves (bench/results/session10-spans2.md): without it nested LOCO drops
    # en 0.694 -> 0.657, zh 0.637 -> 0.611.
    import dataclasses

    from qa.retrieve.answer_span import FEATURES

    answer = bundled_searcher.search("hinge loss 在预测正确时损失是多少", 3)
    context = answer.span_context
    assert answer.query is not None and context is not None
    text = (
        "The hinge loss grows linearly with the distance from the margin for a wrong "
        "prediction. When the prediction is correct and outside the margin, the hinge "
        "loss is zero."
    )
    most = FEATURES.index("most_terms")
    _, _, bridged = context.features(text)
    assert bridged[:, most].tolist() == [0.0, 1.0]
    assert [u.text for u in context.units(text)] == [
        "When the prediction is correct and outside the margin, the hinge loss is zero."
    ]
    own = dataclasses.replace(context, terms=answer.query.own_terms)
    _, _, alone = own.features(text)
    assert alone[:, most].tolist() == [1.0, 1.0]  # the question's own words: a tie


# ---------------------------------------------------------------------------- TUI


DROPOUT_NOTE = """# Deep learning

## Dropout

Dropout is a regularization technique for **neural networks**. It works because it
stops units from co-adapting: no unit can rely on another. At inference all units are kept.

## Batch normalization

Batch normalization normalises activations with the mini-batch mean and variance.
"""


def test_the_card_marks_the_answer_and_ctrl_n_shows_it_alone(tmp_path: Path, fake_settings) -> None:
    import asyncio

    from conftest import FAKE
    from textual.content import Content
    from textual.widgets.markdown import MarkdownBlock

    from qa.store.build import build_index
    from qa.tui.app import QAApp
    from qa.tui.widgets import AnswerCard, HighlightedMarkdown

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "dl.md").write_text(DROPOUT_NOTE, encoding="utf-8")
    build_index(notes, tmp_path / "index", fake_settings)

    async def run() -> None:
        app = QAApp(notes, tmp_path / "index", FAKE, freshness_seconds=0)
        async with app.run_test(size=(110, 36)) as pilot:
            while not (app.index.phase == "ready" and not app.index.loading_channels):
                await pilot.pause(0.05)
            await pilot.press(*"why does dropout work", "enter")
            for _ in range(400):
                found = list(app.chat.query(AnswerCard))
                if found and found[-1].answer is not None and not found[-1].refining:
                    break
                await pilot.pause(0.05)
            await pilot.pause()
            card = app.chat.query(AnswerCard).last()
            assert card.heading == "Dropout"
            assert card.answer_sentences == [
                "It works because it\nstops units from co-adapting: no unit can rely on another."
            ]

            def answer_marks() -> list[str]:
                marks = []
                for block in card.query_one(HighlightedMarkdown).query(MarkdownBlock):
                    content = block.visual
                    if isinstance(content, Content):
                        marks += [
                            content.plain[s.start : s.end]
                            for s in content.spans
                            if s.style == ".markdown--answer"
                        ]
                return marks

            whole = card.query_one(HighlightedMarkdown).source
            # Rendered, the sentence is one line; only it is marked as the answer.
            assert answer_marks() == [
                "It works because it stops units from co-adapting: no unit can rely on another."
            ]
            assert "ctrl+n the answer alone" in str(card.query_one(".card-answer-note").render())
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert card.answer_only
            alone = card.query_one(HighlightedMarkdown).source
            assert alone == card.answer_sentences[0]
            assert whole.startswith("Dropout is a regularization technique")
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert not card.answer_only
            assert card.query_one(HighlightedMarkdown).source == whole

    asyncio.run(run())


def test_qa_eval_scores_answer_sentences_against_the_baselines(tmp_path: Path) -> None:
    from qa.cli import main

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "dl.md").write_text(DROPOUT_NOTE, encoding="utf-8")
    gold = "It works because it stops units from co-adapting: no unit can rely on another."
    lines = [
        {"question": "why does dropout work", "relevant": ["Dropout"], "answer": [gold]},
        {"question": "what is batch normalization", "relevant": ["Batch normalization"]},
    ]
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    args = ["eval", "--questions", str(questions), "--json", *opts(notes)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)["sentences"]["gold_passage"]["en"]
    assert table["qa"]["n"] == 1  # only the question with gold sentences
    assert (table["qa"]["hit@1"], table["qa"]["precision"]) == (1.0, 1.0)
    assert table["first"]["hit@1"] == 0.0  # the first sentence says what dropout is
    human = CliRunner().invoke(main, ["eval", "--questions", str(questions), *opts(notes)])
    assert "Answer sentences: Hit@1 / span precision" in human.stdout
    # A labelled file with a malformed answer is one line naming it.
    questions.write_text('{"question": "x", "relevant": ["Dropout"], "answer": "no"}\n')
    bad = CliRunner().invoke(main, ["eval", "--questions", str(questions), *opts(notes)])
    assert bad.exit_code == 1 and "answer must be a list of strings" in bad.output


def test_ranking_without_spans_ranks_the_same_and_marks_nothing(small: Path, fake_settings) -> None:
    from qa.library import Library

    searcher = Library(small, small.parent / "index", fake_settings).open()
    for question in ("why does dropout help", "置信区间是什么"):
        marked = searcher.search(question, 5)
        ranked = searcher.search(question, 5, spans=False)
        assert [h.row for h in ranked.hits] == [h.row for h in marked.hits]
        assert ranked.confidence == marked.confidence
        assert any(h.answer_spans for h in marked.hits)
        assert all(h.answer_spans is None for h in ranked.hits)
        assert ranked.span_context is None
