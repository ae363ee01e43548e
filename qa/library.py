"""The one way in: a notes folder, its index and its models, for every front end.

The CLI, the chat app, ``qa serve``, ``qa eval`` and the benchmarks open an index only
through ``Library``: it picks the settings (qa.toml, ``--model``, the models an index
was built with), decides when to build (``Policy``), builds with progress, and opens a
``Searcher`` on the generation in use, or on a newer one when another process has
built it. Models come from one pool per process (``qa.models.pool``), so a rebuild or a
reload never loads a second copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from qa.models.pool import POOL, ModelPool
from qa.retrieve.search import Searcher
from qa.settings import Settings, default_corpus, default_index
from qa.store.build import BuildReport, build_index
from qa.store.index import (
    BuildProgress,
    Freshness,
    Index,
    IndexCorrupt,
    IndexMissing,
    IndexOutdated,
    build_running,
    check_compatible,
    check_freshness,
    current_generation,
    current_manifest,
)
from qa.store.manifest import Manifest


class Policy(Enum):
    """When opening builds the index first."""

    FRESH = "fresh"  # build when missing, damaged, of another folder, or older than the notes
    PRESENT = "present"  # as FRESH, but notes changed since the build are only reported
    EXISTING = "existing"  # never build: a missing or damaged index is an error


@dataclass
class Library:
    corpus: Path
    index_dir: Path
    settings: Settings
    pool: ModelPool = field(default=POOL, repr=False)
    last_build: BuildReport | None = field(default=None, repr=False)  # by the last open()

    @classmethod
    def configure(
        cls,
        corpus: Path | None = None,
        index_dir: Path | None = None,
        model: str | None = None,
        settings: Settings | None = None,
    ) -> Library:
        """The notes folder (default: ``$QA_CORPUS`` or the bundled notes), its index
        (default: see ``default_index``) and the settings to use: ``settings`` when
        given, else ``[settings.default]`` of the folder's qa.toml; ``model`` replaces
        the first dense model; without either, an index built by ``qa build --model``
        keeps its models. An unknown model name raises ``UnknownNameError``."""
        corpus = Path(corpus) if corpus is not None else default_corpus()
        index_dir = Path(index_dir) if index_dir is not None else default_index(corpus)
        if settings is None:
            from qa.presets import load_presets

            settings = load_presets(corpus)["default"]
        if model:
            from qa.models.encoders import get_encoder

            get_encoder(model)  # an unknown name fails here, before any work
            settings = settings.with_model(model)
        elif settings.models == Settings().models:
            settings = _models_of_existing_index(index_dir, settings)
        return cls(corpus, index_dir, settings)

    def with_settings(self, settings: Settings, index_dir: Path | None = None) -> Library:
        """The same notes and pool with other settings (and maybe another index)."""
        return replace(self, settings=settings, index_dir=index_dir or self.index_dir)

    # ------------------------------------------------------------------ state

    def freshness(self, covering: bool = False) -> Freshness:
        """Whether the index matches the notes and settings (see ``check_freshness``)."""
        return check_freshness(self.corpus, self.index_dir, self.settings, covering=covering)

    def manifest(self) -> Manifest | None:
        """The manifest of the generation in use, or None when there is no usable one."""
        return current_manifest(self.index_dir)

    def filling(self) -> tuple[str, ...]:
        """Channels the generation in use lacks while its build embeds them (see
        ``build_index``'s phases); () when it has them all."""
        manifest = self.manifest()
        return manifest.filling if manifest is not None else ()

    def generation(self) -> Path | None:
        """The folder of the generation in use, or None while there is none."""
        try:
            return current_generation(self.index_dir)
        except (IndexMissing, IndexCorrupt, OSError):
            return None

    # ------------------------------------------------------------------ work

    def build(
        self,
        full: bool = False,
        progress: BuildProgress | None = None,
        wait: bool = True,
        published: Callable[[str], None] | None = None,
    ) -> BuildReport:
        """Build or update the index (only changed sections are re-embedded); a large
        build publishes BM25 and the first model first and calls ``published`` then
        (see ``build_index``)."""
        return build_index(
            self.corpus,
            self.index_dir,
            self.settings,
            progress,
            full,
            wait,
            self.pool,
            published=published,
        )

    def open(
        self,
        policy: Policy = Policy.FRESH,
        progress: BuildProgress | None = None,
        on_build: Any = None,
        published: Callable[[str], None] | None = None,
    ) -> Searcher:
        """A searcher on the index, built first as ``policy`` says (see ``load``)."""
        index = self.load(policy, progress, on_build, published=published)
        return Searcher(index, self.settings, pool=self.pool)

    def load(
        self,
        policy: Policy = Policy.FRESH,
        progress: BuildProgress | None = None,
        on_build: Any = None,
        channels: tuple[str, ...] | None = None,
        published: Callable[[str], None] | None = None,
    ) -> Index:
        """The index, built first as ``policy`` says; ``channels`` limits which vector
        files are read (``()``: chunks and BM25 only, as the quiz needs).

        An index built with other models is never rebuilt silently (that is the user's
        call): ``IndexIncompatible`` says what to run. ``on_build(reason)`` is called
        before a build starts; ``last_build`` keeps the report of a build done here;
        ``published(generation)`` when a phased build has published its first phase
        (see ``build``): a front end can answer from it while the rest is embedded."""
        self.last_build = None
        wanted = self.settings.channels if channels is None else channels
        if policy is Policy.EXISTING:
            return Index.load(self.index_dir, wanted)
        manifest = self.manifest()
        if manifest is not None:  # missing or damaged: building is the fix
            check_compatible(manifest, self.settings, self.pool)
        reason, full = self._why_build(policy)
        if not reason:
            try:
                return Index.load(self.index_dir, wanted)
            except (IndexCorrupt, IndexOutdated) as err:
                reason, full = str(err).split("; run")[0], True
        if on_build is not None:
            on_build(reason)
        self.last_build = self.build(full=full, progress=progress, published=published)
        return Index.load(self.index_dir, wanted)

    def reopen(self, searcher: Searcher) -> Searcher | None:
        """A searcher on the generation in use when it is newer than ``searcher``'s;
        None when it is the same one. Raises as ``Index.load`` does when it is damaged."""
        newest = self.generation()
        if newest is None or newest == searcher.index.folder:
            return None
        fresh = Searcher(
            Index.load(self.index_dir, self.settings.channels), self.settings, pool=self.pool
        )
        fresh._executor = searcher._executor  # keep the channel threads, not one pool per load
        return fresh

    # ------------------------------------------------------------------ helpers

    def _why_build(self, policy: Policy) -> tuple[str, bool]:
        """Why the index must be built first ("" when it need not) and whether in full."""
        fresh = self.freshness()
        if fresh.fresh:
            return "", False
        if policy is Policy.FRESH:
            return fresh.reason, False
        if self.generation() is None:
            return fresh.reason, False
        manifest = self.manifest()
        if manifest is None:
            return "the index is damaged", True
        if manifest.corpus != str(self.corpus.resolve()):
            return f"the index was built from {manifest.corpus}", False
        if not fresh.notes and not build_running(self.index_dir):
            # Settings, or the version of qa (chunker, segmenter), changed. (While another
            # process builds, open what is there: its new index is picked up when published.)
            return fresh.reason, False
        return "", False  # PRESENT: only the notes changed; the caller reports it


def _models_of_existing_index(index_dir: Path, settings: Settings) -> Settings:
    """Without --model, keep using the models the index was built with (`qa build --model`
    is remembered)."""
    manifest = current_manifest(index_dir)
    built = manifest.models if manifest is not None else ()
    return replace(settings, models=built) if built else settings
