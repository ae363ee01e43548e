"""Retrieval settings and where the notes and the index live by default."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from qa.models.encoders import channel_name
from qa.places import cache_root, folder_key

LEXICAL = "bm25"
# Chosen by `qa eval --split dev` on the bundled notes and tests/corpus_mixed (README.md,
# "How the defaults were chosen").
DEFAULT_WEIGHTS = {LEXICAL: 1.0, "minilm": 0.5, "e5": 1.0}

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent
# Made by `qa init` inside a notes folder: its index then lives there (and is never indexed).
LOCAL_DIR = ".qa"


@dataclass(frozen=True)
class Settings:
    """Everything that changes what ``search`` returns.

    ``models`` are the dense channels (registry names, or sentence-transformers model
    names/paths); ``weights`` are per-channel fusion weights (missing channels weigh 1).
    ``coverage_weight`` is how much the share of the question's words a chunk contains
    adds to its fused score (``LexicalIndex.coverage``; when the lexical channel is fused
    with others). ``follow_links`` indexes notes behind symbolic links that lead outside
    the notes folder (off: a notes folder from someone else must not reach your files).
    ``include``, ``exclude`` and ``gitignore`` choose which notes are indexed
    (qa.store.selection, with the notes folder's ``.qaignore``).
    """

    models: tuple[str, ...] = ("minilm", "e5")
    lexical: bool = True
    fusion: str = "weighted"
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    rrf_k: int = 60
    glossary: bool = True
    expansion_weight: float = 0.7
    coverage_weight: float = 0.45
    group_windows: bool = True
    exact_scores: bool = True
    dictionary: bool = True  # CC-CEDICT for words the glossary lacks (qa.lang.dictionary)
    rerank: str = "linear"  # "linear": reorder the best candidates (qa.retrieve.rerank), or "none"
    window_chars: int = 700
    follow_links: bool = False
    # Which notes are indexed (qa.store.selection): gitignore-style patterns, and whether what
    # .gitignore ignores is skipped when the notes are in a git repository.
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    gitignore: bool = True

    @property
    def dense_channels(self) -> tuple[str, ...]:
        return tuple(channel_name(m) for m in self.models)

    @property
    def channels(self) -> tuple[str, ...]:
        return ((LEXICAL,) if self.lexical else ()) + self.dense_channels

    def weight(self, channel: str) -> float:
        return float(self.weights.get(channel, 1.0))

    def with_model(self, model: str) -> Settings:
        """These settings with ``model`` as the first dense model (replacing the default)."""
        rest = tuple(m for m in self.models[1:] if m != model)
        return replace(self, models=(model, *rest))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["models"] = list(self.models)
        data["include"] = list(self.include)
        data["exclude"] = list(self.exclude)
        return data


def bundled_corpus() -> Path:
    return REPO_ROOT / "corpus"


def default_corpus() -> Path:
    env = os.environ.get("QA_CORPUS")
    return Path(env) if env else bundled_corpus()


def default_index(corpus: Path) -> Path:
    """Where the index of ``corpus`` lives unless ``--index`` or ``QA_INDEX`` says.

    The bundled notes keep ``index/`` in the checkout. Any other folder: ``.qa/index``
    inside it when the user made ``.qa/`` (``qa init``), else the user cache directory
    (``indexes/<folder key>``), never the tool's own folder.
    """
    env = os.environ.get("QA_INDEX")
    if env:
        return Path(env)
    corpus = corpus.resolve()
    if corpus == bundled_corpus().resolve() and (REPO_ROOT / "pyproject.toml").exists():
        return REPO_ROOT / "index"
    if (corpus / LOCAL_DIR).is_dir():
        return corpus / LOCAL_DIR / "index"
    return cache_root() / "indexes" / folder_key(corpus)
