"""Preparing passages for display: math kept literal, the question's words found."""

import pytest

from qa.lang.glossary import load_glossary
from qa.retrieve.passage import highlight_pattern, highlight_terms, protect_math


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        # Inline math becomes inline code, dollars kept, so * and _ stay literal.
        ("size $F \\times F$ pixels", "size `$F \\times F$` pixels"),
        ("$a_1 * b_2$ and $c$", "`$a_1 * b_2$` and `$c$`"),
        # Prices are not math (pandoc's rule: no space inside, no digit after).
        ("costs $5 and $10 today", "costs $5 and $10 today"),
        ("inline $$x^2$$ here", "inline `$$x^2$$` here"),
        # Existing code spans are left alone.
        ("`$keep$` and $m$", "`$keep$` and `$m$`"),
        # Display math on one line or several becomes a latex fence.
        (
            "$$ \\sigma(x) = \\frac{1}{1 + e^{-x}} $$",
            "```latex\n\\sigma(x) = \\frac{1}{1 + e^{-x}}\n```",
        ),
        ("before\n$$\na_1 * b_2\n$$\nafter", "before\n```latex\na_1 * b_2\n```\nafter"),
        # Nothing inside a code fence changes.
        ("```python\nx = $a$\n$$\n```", "```python\nx = $a$\n$$\n```"),
        # An unclosed $$ leaves the text as it was.
        ("$$\nno end", "$$\nno end"),
        ("no math at all", "no math at all"),
    ],
)
def test_protect_math(markdown: str, expected: str) -> None:
    assert protect_math(markdown) == expected


def test_display_math_keeps_list_indentation() -> None:
    assert protect_math("- item\n\n   $$ a*b $$") == "- item\n\n   ```latex\n   a*b\n   ```"


def test_highlight_english_words_by_stem() -> None:
    passage = "Dropout randomly zeroes units; drop-out layers. Dropouts normalization is here."
    terms = highlight_terms("what is dropout and why does it normalize", passage)
    assert terms == ["normalization", "Dropouts", "Dropout"]
    # Stop words ("what", "is", "and", "it") are never marked.
    assert "is" not in {t.lower() for t in terms}


def test_highlight_carries_terms_across_languages() -> None:
    glossary = load_glossary()
    question = "BN在训练和推理时有什么区别"
    passage = "Batch Norm during Training uses the batch. 训练时用批归一化。"
    terms = highlight_terms(question, passage, glossary.expand(question))
    pattern = highlight_pattern(terms)
    assert pattern is not None
    assert pattern.findall(passage) == ["Batch Norm", "Training", "训练", "批归一化"]


def test_highlight_ignores_question_words_from_the_glossary() -> None:
    glossary = load_glossary()
    question = "有哪些 regularization methods"
    passage = "Which methods are there? What are the regularization methods?"
    terms = highlight_terms(question, passage, glossary.expand(question))
    assert {t.lower() for t in terms} == {"regularization", "methods"}


def test_highlight_pattern_matches_whole_words_only() -> None:
    pattern = highlight_pattern(["norm", "batch norm", "批归一化"])
    assert pattern is not None
    assert pattern.findall("Batch-Norm, normal, NORM, 批归一化层") == [
        "Batch-Norm",
        "NORM",
        "批归一化",
    ]
    assert highlight_pattern([]) is None
