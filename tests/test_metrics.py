"""Metrics against values computed by hand, and the labelled-set format."""

import json
import math
from pathlib import Path

import pytest

from qa.eval.evaluate import LabelError, Target, load_labelled, question_metrics
from qa.store.chunks import Location


def test_metrics_on_a_hand_computed_case() -> None:
    # Two relevant targets; ranks 1..4 hold: nothing, target 0, target 0 again, target 1.
    m = question_metrics([set(), {0}, {0}, {1}], n_targets=2)
    assert m["hit@1"] == 0.0
    assert m["hit@3"] == 1.0
    assert m["mrr@10"] == 0.5
    dcg = 1 / math.log2(3) + 1 / math.log2(5)  # the repeated target 0 at rank 3 counts once
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx(dcg / ideal)
    assert m["recall@10"] == 1.0


def test_nothing_relevant_retrieved() -> None:
    m = question_metrics([set(), set()], n_targets=1)
    assert m == {
        "hit@1": 0.0,
        "hit@3": 0.0,
        "hit@5": 0.0,
        "mrr@10": 0.0,
        "ndcg@10": 0.0,
        "recall@10": 0.0,
    }


LOC = Location("notes/ml.md", 10, 20, ("Overfitting", "Preventing Overfitting"))


@pytest.mark.parametrize(
    ("entry", "matches"),
    [
        ("Preventing Overfitting", True),
        ("preventing  overfitting", True),
        ("Overfitting > Preventing Overfitting", True),
        ("Overfitting", False),
        ("ml.md", True),
        ("other.md", False),
        ("ml.md#Preventing Overfitting", True),
        ("other.md#Preventing Overfitting", False),
    ],
)
def test_relevance_entries(entry: str, matches: bool) -> None:
    assert Target.parse(entry).matches(LOC) is matches


def test_labelled_set_lines_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"question": "what is dropout", "relevant": ["Dropout"]}\n'
        '{"question": "过拟合", "relevant": []}\n',
        encoding="utf-8",
    )
    items = load_labelled(path)
    assert [(i.lang, i.answerable) for i in items] == [("en", True), ("zh", False)]
    path.write_text('{"question": "x", "relevant": "Dropout"}\n')
    with pytest.raises(LabelError, match=r"q.jsonl:1: relevant must be a list"):
        load_labelled(path)


def test_the_shipped_labelled_set_is_big_enough_and_bilingual() -> None:
    items = load_labelled(Path(__file__).parent.parent / "corpus" / "questions.jsonl")
    assert len(items) >= 200
    assert sum(i.lang == "zh" for i in items) / len(items) >= 0.4
    assert sum(not i.answerable for i in items) >= 20


def test_a_line_can_pin_its_question_to_a_half(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    questions = [f"question number {n}" for n in range(40)]
    path.write_text("\n".join(json.dumps({"question": q}) for q in questions) + "\n")
    by_hash = {i.question: i.split for i in load_labelled(path)}
    assert set(by_hash.values()) == {"dev", "test"}
    path.write_text("\n".join(json.dumps({"question": q, "split": "dev"}) for q in questions))
    assert {i.split for i in load_labelled(path)} == {"dev"}
    path.write_text('{"question": "x", "split": "train"}\n')
    with pytest.raises(LabelError, match=r"q.jsonl:1: split must be 'dev' or 'test'"):
        load_labelled(path)


def test_questions_added_later_are_pinned_and_the_first_held_out_half_is_unchanged() -> None:
    items = load_labelled(Path(__file__).parent.parent / "corpus" / "questions.jsonl")
    # The hashed questions come first; those written later (84 to tune on, then a fresh
    # held-out sets of 145 and 122) each name their half.
    first_pinned = next(n for n, i in enumerate(items) if i.pinned_split)
    assert all(i.pinned_split for i in items[first_pinned:])
    hashed = items[:first_pinned]
    assert sum(i.split == "test" for i in hashed) == 205  # the held-out half of sessions 1-4
    assert [sum(i.pinned_split == s for i in items) for s in ("dev", "test")] == [84, 267]
