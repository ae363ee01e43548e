"""Scoring retrieval on a labelled question set.

A labelled set is JSONL, one question per line, written by hand::

    {"question": "what is dropout", "relevant": ["Dropout"], "lang": "en"}

An optional ``answer`` lists the sentences of the relevant section that answer, as the
note writes them; ``qa eval`` then also scores the answer spans (``qa.eval.sentence_eval``).

Each ``relevant`` entry names a section by its heading (``"Dropout"``), a heading-path
suffix (``"Overfitting > Preventing Overfitting"``), a file (``"notes.md"``) or a file
and heading (``"notes.md#Dropout"``). ``"relevant": []`` marks a question the notes do
not answer. ``lang`` is optional and detected when missing.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.lang.text import detect_language
from qa.store.chunks import Chunk, Location

if TYPE_CHECKING:
    from qa.retrieve.search import Answer

CUTOFF = 10
METRICS = ("hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "recall@10")


class LabelError(ValueError):
    """A labelled-set file that cannot be read; the message names the line."""


@dataclass(frozen=True)
class Labelled:
    question: str
    relevant: tuple[str, ...]
    lang: str
    line: int = 0
    pinned_split: str | None = None  # the line's "split", if it names one
    answer: tuple[str, ...] = ()  # the sentences of the notes that answer (qa.eval.sentence_eval)

    @property
    def answerable(self) -> bool:
        return bool(self.relevant)

    @property
    def split(self) -> str:
        """A fixed half of the set: "dev" to tune on, "test" to report on.

        A question goes to a half by a hash of its text, unless its line names one
        (questions written later to tune on are pinned to "dev", so that the held-out
        half stays the same).
        """
        if self.pinned_split is not None:
            return self.pinned_split
        digest = hashlib.sha1(self.question.encode()).digest()
        return "dev" if digest[0] % 2 == 0 else "test"


def load_labelled(path: Path) -> list[Labelled]:
    """Read a labelled set; a malformed line is an error naming the line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise LabelError(f"labelled questions not found: {path}") from None
    except UnicodeDecodeError:
        raise LabelError(f"{path} is not UTF-8 text") from None
    items = []
    for n, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                kinds = {"list": "a list", "str": "a string"}
                kind = kinds.get(type(data).__name__, type(data).__name__)
                raise ValueError(f"each line must be a JSON object, not {kind}")
            if "question" not in data:
                raise ValueError('missing "question"')
            question = data["question"]
            relevant = data.get("relevant", [])
            if not isinstance(question, str) or not question.strip():
                raise ValueError("question must be a non-empty string")
            if not isinstance(relevant, list) or not all(isinstance(r, str) for r in relevant):
                raise ValueError("relevant must be a list of strings")
            lang = data.get("lang") or detect_language(question)
            if lang not in ("en", "zh"):
                raise ValueError(f"lang must be 'en' or 'zh', not {lang!r}")
            answer = data.get("answer", [])
            if not isinstance(answer, list) or not all(isinstance(a, str) for a in answer):
                raise ValueError("answer must be a list of strings")
            split = data.get("split")
            if split not in (None, "dev", "test"):
                raise ValueError(f"split must be 'dev' or 'test', not {split!r}")
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise LabelError(f"{path}:{n}: {err}") from None
        items.append(Labelled(question.strip(), tuple(relevant), lang, n, split, tuple(answer)))
    if not items:
        raise LabelError(f"{path} has no questions")
    return items


def _norm(text: str) -> str:
    """Labels name headings as the file writes them (`code`, **bold**); headings are
    stored without that markup. Both sides drop it, and case and spacing."""
    return " ".join(text.replace("`", "").replace("*", "").casefold().split())


@dataclass(frozen=True)
class Target:
    """One ``relevant`` entry, parsed."""

    file: str | None
    path: tuple[str, ...]

    @classmethod
    def parse(cls, entry: str) -> Target:
        file, _, heading = entry.partition("#")
        if not file.lower().endswith((".md", ".markdown")):
            file, heading = "", entry
        if not file and entry.lower().endswith((".md", ".markdown")) and " > " not in entry:
            file, heading = entry, ""
        path = tuple(_norm(p) for p in heading.split(" > ") if p.strip())
        return cls(_norm(file) if file else None, path)

    def matches(self, loc: Location) -> bool:
        if self.file is not None:
            name = _norm(loc.file)
            if name != self.file and not name.endswith("/" + self.file):
                return False
        if not self.path:
            return True
        have = tuple(_norm(p) for p in loc.heading_path)
        return have[-len(self.path) :] == self.path


def matched_targets(chunk: Chunk, targets: Sequence[Target]) -> set[int]:
    """Which targets (by position) a retrieved chunk satisfies, at any of its locations."""
    return {i for i, t in enumerate(targets) if any(t.matches(loc) for loc in chunk.locations)}


def question_metrics(ranked: Sequence[set[int]], n_targets: int) -> dict[str, float]:
    """Metrics for one question.

    ``ranked[i]`` is the set of targets the hit at rank i+1 satisfies. A target counts
    once, at its best rank, so several windows of one section are not counted twice.
    """
    first = next((i + 1 for i, m in enumerate(ranked[:CUTOFF]) if m), None)
    seen: set[int] = set()
    dcg = 0.0
    for i, matched in enumerate(ranked[:CUTOFF]):
        new = matched - seen
        if new:
            dcg += 1.0 / math.log2(i + 2)
            seen |= new
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(n_targets, CUTOFF)))
    return {
        "hit@1": float(first is not None and first <= 1),
        "hit@3": float(first is not None and first <= 3),
        "hit@5": float(first is not None and first <= 5),
        "mrr@10": 1.0 / first if first else 0.0,
        "ndcg@10": dcg / ideal if ideal else 0.0,
        "recall@10": len(seen) / n_targets if n_targets else 0.0,
    }


@dataclass
class Outcome:
    """How the system did on one labelled question."""

    item: Labelled
    metrics: dict[str, float]
    first_relevant: int | None  # rank of the first relevant hit within the cut-off
    top: list[Chunk]  # what ranked first (up to the cut-off)
    declined: bool = False


@dataclass
class Report:
    outcomes: list[Outcome]
    groups: dict[str, dict[str, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    # per language: share of off-topic questions declined, of answerable ones declined
    declines: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def missed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.item.answerable and o.first_relevant != 1]

    def to_json(self) -> dict[str, Any]:
        return {
            "metrics": self.groups,
            "counts": self.counts,
            "declines": self.declines,
            "missed": [
                {
                    "question": o.item.question,
                    "lang": o.item.lang,
                    "relevant": list(o.item.relevant),
                    "first_relevant_rank": o.first_relevant,
                    "top": " > ".join(o.top[0].heading_path) if o.top else None,
                }
                for o in self.missed
            ],
        }


def summarise(outcomes: list[Outcome]) -> Report:
    """Mean metrics overall and per language, over answerable questions."""
    report = Report(outcomes)
    groups: dict[str, list[Outcome]] = {"all": []}
    for o in outcomes:
        if o.item.answerable:
            groups["all"].append(o)
            groups.setdefault(o.item.lang, []).append(o)
    for name, members in groups.items():
        report.counts[name] = len(members)
        report.groups[name] = {
            m: (sum(o.metrics[m] for o in members) / len(members) if members else 0.0)
            for m in METRICS
        }
    for lang in ("en", "zh", "all"):
        mine = [o for o in outcomes if lang == "all" or o.item.lang == lang]
        off = [o for o in mine if not o.item.answerable]
        on = [o for o in mine if o.item.answerable]
        if not mine:
            continue
        report.declines[lang] = {
            "off_topic": len(off),
            # None (shown as "—") where there is no such question: not a rate of 0.
            "off_topic_declined": sum(o.declined for o in off) / len(off) if off else None,
            "answerable_declined": sum(o.declined for o in on) / len(on) if on else None,
        }
    return report


@dataclass(frozen=True)
class UnmatchedLabel:
    """A ``relevant`` entry that names no section of the notes (a sure miss)."""

    item: Labelled
    label: str
    closest: tuple[str, ...]  # headings that look like what was meant

    def __str__(self) -> str:
        hint = f"; closest headings: {', '.join(self.closest)}" if self.closest else ""
        return f"line {self.item.line}: label {self.label!r} matches no section{hint}"


def unmatched_labels(items: Iterable[Labelled], chunks: Sequence[Chunk]) -> list[UnmatchedLabel]:
    """Labels that match no section: the question is scored as a miss whatever qa does."""
    import difflib

    locations = [loc for c in chunks for loc in c.locations]
    headings = sorted({loc.heading_path[-1] for loc in locations})
    found = []
    for item in items:
        for label in item.relevant:
            target = Target.parse(label)
            if not any(target.matches(loc) for loc in locations):
                wanted = label.rpartition("#")[2].rpartition(" > ")[2]
                closest = difflib.get_close_matches(wanted, headings, n=3, cutoff=0.5)
                found.append(UnmatchedLabel(item, label, tuple(closest)))
    return found


def evaluate(items: Iterable[Labelled], search: Callable[[str], Answer]) -> Report:
    """Ask every labelled question through ``search`` and score what comes back."""
    outcomes = []
    for item in items:
        answer = search(item.question)
        top = [h.chunk for h in answer.hits][:CUTOFF]
        targets = [Target.parse(r) for r in item.relevant]
        ranked = [matched_targets(c, targets) for c in top]
        metrics = question_metrics(ranked, len(targets)) if targets else {}
        first = next((i + 1 for i, m in enumerate(ranked) if m), None)
        outcomes.append(Outcome(item, metrics, first, top, answer.declined))
    return summarise(outcomes)
