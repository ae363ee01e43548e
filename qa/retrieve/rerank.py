"""A second stage that reorders the best candidates by what the question asks.

Fusion finds the right section among its first few almost always; what it gets wrong is
the order among siblings ("why X", "how to fix X", "X vs Y" under separate headings), and
boilerplate (link lists, tables of contents) that shares the question's words. The
reranker reads features qa already has for each of the top candidates — channel scores,
coverage of the question's terms in the heading and in the text, whether the heading asks
the same kind of question (why / how / compare / pros and cons / what), how much of the
text is links or page numbers, which window of its section it is — and scores them with a
linear model. The model is fitted across corpora (``bench/fit_reranker.py``,
leave-one-corpus-out) and shipped as data (``qa/data/reranker.json``), so it is not tuned
to one set of notes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.settings import PACKAGE_ROOT

MODEL_FILE = PACKAGE_ROOT / "data" / "reranker.json"
DEPTH = 20  # how many of fusion's best candidates are reordered

# What a question (or a heading) asks for. A heading "Why does X happen?" and a question
# "why X" share "why"; "X vs Y" shares "compare" with "difference between X and Y".
INTENTS: dict[str, tuple[str, str]] = {
    # name: (English pattern, Chinese pattern)
    "why": (
        r"\bwhy\b|\breasons?\b|\bcauses?\b|\bwhat makes\b|\bmotivation\b|\bpurpose\b",
        r"为什么|为何|为啥|原因|动机|目的|作用",
    ),
    "how": (
        r"\bhow (?:do|does|did|to|can|could|should|would|is|are|will)\b|\bways? (?:to|of)\b"
        r"|\bsteps?\b|\bmethods?\b|\btechniques?\b|\bstrateg(?:y|ies)\b|\bfix(?:es|ed|ing)?\b"
        r"|\bhandl(?:e|es|ed|ing)\b|\bdeal(?:s|t|ing)? with\b|\bprevent(?:s|ed|ing)?\b"
        r"|\bavoid(?:s|ed|ing)?\b|\bovercom(?:e|es|ing)\b|\bsolv(?:e|es|ed|ing)\b|\bsolutions?\b"
        r"|\bimprov(?:e|es|ed|ing)\b|\breduc(?:e|es|ed|ing)\b|\bmitigat(?:e|es|ed|ing)\b|\bimplement",
        r"如何|怎么|怎样|方法|方式|解决|处理|避免|防止|缓解|改进|改善|步骤|手段|措施|技巧|策略|实现",
    ),
    "compare": (
        r"\bvs\.?\b|\bversus\b|\bdifferences?\b|\bdiffer(?:s|ed|ing|ently)?\b"
        r"|\bcompar(?:e|es|ed|ing|ison|isons)\b|\bsimilarit(?:y|ies)\b|\bdistinguish(?:es|ed|ing)?\b",
        r"区别|不同|差异|对比|比较|异同|联系|相比|vs",
    ),
    "proscons": (
        r"\bpros\b|\bcons\b|\badvantages?\b|\bdisadvantages?\b|\bdrawbacks?\b|\bbenefits?\b"
        r"|\blimitations?\b|\bstrengths?\b|\bweakness(?:es)?\b|\btrade-?offs?\b",
        r"优缺点|优点|缺点|优势|劣势|好处|不足|局限|弊端|利弊|权衡",
    ),
    "what": (
        r"^\s*what (?:is|are)\b|\bdefine\b|\bdefinition\b|\bmeaning\b|\bwhat does .* mean\b"
        r"|\bintuition\b|\bexplain\b",
        r"什么是|是什么|定义|含义|概念|介绍|理解|简述|解释",
    ),
    "when": (
        r"\bwhen (?:to|should|would|do|does|is|are|can)\b|\bwhich (?:one|is better)\b"
        r"|\buse cases?\b|\bscenarios?\b|\bappropriate\b",
        r"什么时候|何时|场景|适用|适合|选择|选哪",
    ),
}
_INTENT_RES = {
    name: (re.compile(en, re.IGNORECASE), re.compile(zh, re.IGNORECASE))
    for name, (en, zh) in INTENTS.items()
}

_LINK = re.compile(r"!?\[[^\]\n]*\]\([^)\n]*\)|<https?://[^>\s]+>|https?://\S+")
_PAGE_NUMBER_LINE = re.compile(r"(?:\.{2,}|…+|\s|\t)\d{1,4}\s*$")
_CHECKBOX = re.compile(r"^\s*[-*+]\s+\[[ xX]\]")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_HEADING_QUESTION = re.compile(
    r"[?？]\s*$|^\s*(?:q\d+\s*[:：.]\s*)?(?:why|how|what|when|which|is|are|can|does|do|should)\b"
    r"|为什么|如何|怎么|什么|哪些|吗\s*$",
    re.IGNORECASE,
)

FEATURES = (
    "fused",
    "fused_rank",
    "bm25",
    "minilm",
    "e5",
    "coverage",
    "heading_coverage",
    "intent_match",
    "intent_conflict",
    "heading_is_question",
    "link_density",
    "list_link_lines",
    "toc_lines",
    "later_window",
    "log_chars",
    "depth",
)


def intents(text: str) -> frozenset[str]:
    """The kinds of question a text asks (a question or a heading)."""
    return frozenset(
        name for name, (en, zh) in _INTENT_RES.items() if en.search(text) or zh.search(text)
    )


_FIGURE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)|</?(?:img|a|div|p|br)\b[^>]*>", re.IGNORECASE)
_SAYS = re.compile(r"[^\W_]")
_PICTURE = re.compile(r"!\[|<img\b", re.IGNORECASE)


def says_words(text: str) -> bool:
    """Whether a window has words of its own, outside its images and links."""
    return len(_SAYS.findall(_LINK.sub(" ", _FIGURE.sub(" ", text)))) >= 3


def only_figures(text: str) -> bool:
    """Whether a window shows images (a figure, a formula as a picture) and links, and
    no words of its own: a section's window that is only its diagram, with "back to top"."""
    return bool(_PICTURE.search(text)) and not says_words(text)


@dataclass(frozen=True)
class TextShape:
    """What a chunk's text looks like, whatever it says."""

    link_density: float  # share of the characters inside links or URLs
    list_link_lines: float  # share of the lines that are list items made of a link
    toc_lines: float  # share of the lines that end in a page number, or are check boxes

    @classmethod
    def of(cls, text: str) -> TextShape:
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return cls(0.0, 0.0, 0.0)
        chars = sum(len(line.strip()) for line in lines) or 1
        linked = sum(len(m.group(0)) for m in _LINK.finditer(text))
        link_lines = 0
        toc = 0
        for line in lines:
            if _LIST_ITEM.match(line):
                rest = _LINK.sub("", _LIST_ITEM.sub("", line, count=1)).strip(" -–—:|*")
                if rest != line.strip() and len(rest) < 8:
                    link_lines += 1
            if _PAGE_NUMBER_LINE.search(line) or _CHECKBOX.match(line):
                toc += 1
        n = len(lines)
        return cls(min(1.0, linked / chars), link_lines / n, toc / n)


@lru_cache(maxsize=4096)
def text_shape(text: str) -> TextShape:
    return TextShape.of(text)


@dataclass(frozen=True)
class Candidate:
    """What the reranker knows of one candidate (see FEATURES)."""

    fused: float
    channel_scores: Mapping[str, float]
    coverage: float
    heading_coverage: float
    heading: str
    text: str
    part: int
    depth: int


def features(question: str, candidates: Sequence[Candidate]) -> np.ndarray:
    """One row of FEATURES per candidate; channel scores relative to the best candidate."""
    asked = intents(question)
    best = {
        name: max((c.channel_scores.get(name, 0.0) for c in candidates), default=0.0)
        for name in ("bm25", "minilm", "e5")
    }
    top_fused = max((c.fused for c in candidates), default=0.0)
    rows = []
    for rank, c in enumerate(candidates, start=1):
        heading_asks = intents(c.heading)
        shape = text_shape(c.text)
        bm25 = c.channel_scores.get("bm25", 0.0)
        rows.append(
            [
                c.fused - top_fused,
                1.0 / rank,
                bm25 / best["bm25"] if best["bm25"] > 0 else 0.0,
                c.channel_scores.get("minilm", best["minilm"]) - best["minilm"],
                c.channel_scores.get("e5", best["e5"]) - best["e5"],
                c.coverage,
                c.heading_coverage,
                float(bool(asked & heading_asks)),
                float(bool(asked and heading_asks and not asked & heading_asks)),
                float(bool(_HEADING_QUESTION.search(c.heading))),
                shape.link_density,
                shape.list_link_lines,
                shape.toc_lines,
                float(c.part > 1),
                math.log1p(len(c.text)) / 8.0,
                min(c.depth, 6) / 6.0,
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(candidates), len(FEATURES))


@dataclass(frozen=True)
class Reranker:
    """A linear score over FEATURES; candidates are reordered by it."""

    weights: Mapping[str, float]

    def scores(self, x: np.ndarray) -> np.ndarray:
        w = np.array([self.weights.get(name, 0.0) for name in FEATURES])
        return x @ w

    def order(self, question: str, candidates: Sequence[Candidate]) -> list[int]:
        """Positions of ``candidates``, best first (ties keep fusion's order)."""
        if len(candidates) < 2:
            return list(range(len(candidates)))
        s = self.scores(features(question, candidates))
        return [int(i) for i in np.argsort(-s, kind="stable")]

    def to_json(self) -> dict[str, object]:
        return {"format": "qa-reranker", "version": 1, "features": dict(self.weights)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Reranker:
        if data.get("format") != "qa-reranker" or data.get("version") != 1:
            raise ValueError("not a qa reranker file (format qa-reranker, version 1)")
        raw = data.get("features")
        if not isinstance(raw, dict):
            raise ValueError("a reranker file needs a 'features' table")
        weights = {}
        for name, w in raw.items():
            if name not in FEATURES:
                raise ValueError(f"unknown reranker feature {name!r}")
            if not isinstance(w, int | float) or not math.isfinite(w):
                raise ValueError(f"reranker weight {name!r} must be a finite number")
            weights[name] = float(w)
        return cls(weights)


@lru_cache(maxsize=4)
def load_reranker(path: Path = MODEL_FILE) -> Reranker:
    return Reranker.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
