"""The index behind the chat: open it, build it, pick up a newer one, watch the notes.

``IndexController`` is a widget with nothing to show. Everything slow (opening or building
the index through ``qa.library.Library``, loading each dense model, checking whether the
notes changed) runs in its thread workers, which post messages (qa.tui.messages). The
controller handles each message first, to keep its state (``phase``, ``searcher``,
``channels``…) and to tell the user what happened; the message then bubbles on to the
screen that mounts it, which updates what it shows and asks its waiting questions again.
It never imports the App.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.widget import Widget

from qa.settings import LEXICAL
from qa.tui.messages import (
    BuildProgress,
    BuildStarted,
    ChannelFailed,
    ChannelReady,
    FreshnessChecked,
    IndexChanged,
    IndexFailed,
    IndexOpened,
)

if TYPE_CHECKING:
    from pathlib import Path

    from qa.library import Library
    from qa.retrieve.navigate import Outline
    from qa.retrieve.search import Searcher
    from qa.settings import Settings
    from qa.store.build import BuildReport
    from qa.store.index import Freshness

FRESHNESS_SECONDS = 10.0
CHINESE_WARMUP_SECONDS = 5.0


class IndexController(Widget):
    """The index lifecycle of one notes folder, for the chat screen that mounts it."""

    DEFAULT_CSS = "IndexController { display: none; }"

    def __init__(
        self,
        lib: Library,
        *,
        searcher: Searcher | None = None,
        freshness_seconds: float = FRESHNESS_SECONDS,
    ) -> None:
        """``searcher``: an index already open (tests); else it is opened, or built when
        missing, once mounted. ``freshness_seconds``: how often the notes are checked
        (0: never by itself)."""
        super().__init__()
        self.lib = lib
        self.searcher: Searcher | None = None
        self.outline: Outline | None = None
        self.freshness: Freshness | None = None
        self.phase = "opening"  # opening, building, ready, failed
        self.problem = ""  # why the index could not be opened
        self.build_reason = ""
        self.building = False
        self.reloading = False  # picking up an index another process rebuilt
        self.channels: dict[str, str] = {}  # channel -> loading, ready, failed
        self._unopenable: Path | None = None  # a generation a reload failed to open
        self._given_searcher = searcher
        self._freshness_seconds = freshness_seconds
        self._chinese_warmed = False

    @property
    def settings(self) -> Settings:
        return self.lib.settings

    @property
    def ready_channels(self) -> tuple[str, ...]:
        return tuple(c for c in self.settings.channels if self.channels.get(c) == "ready")

    @property
    def loading_channels(self) -> tuple[str, ...]:
        return tuple(c for c in self.settings.channels if self.channels.get(c) == "loading")

    def on_mount(self) -> None:
        self._open()
        if self._freshness_seconds > 0:
            self.set_interval(self._freshness_seconds, self.poll)

    # ------------------------------------------------------------------ what the UI asks

    def rebuild(self, full: bool = False) -> None:
        """Re-read the notes and update the index (every section when ``full``)."""
        if self.building:
            self.notify("A rebuild is already running.", timeout=3)
            return
        self.building = True
        self._rebuild(full)

    def poll(self) -> None:
        """Check the notes and the index on disk, unless a check or a reload is running."""
        # One check at a time: a check that reloads an index can take longer than the
        # interval, and checks piling up would each reload it again.
        checking = any(w.group == "freshness" and not w.is_finished for w in self.workers)
        if self.phase == "ready" and not self.building and not self.reloading and not checking:
            self.check_freshness()

    def newer_generation(self, searcher: Searcher | None) -> Path | None:
        """The generation on disk when it is not the one ``searcher`` reads (and not one
        that could not be opened); None when they are the same or it cannot be told."""
        if searcher is None:
            return None
        current = self.lib.generation()
        if current is None:
            return None  # a build is swapping generations right now; look again later
        if current == searcher.index.folder or current == self._unopenable:
            return None
        return current

    def warm_chinese(self) -> None:
        """Load the Chinese word segmenter now, not on the first Chinese question."""
        if not self._chinese_warmed and self.searcher is not None:
            self._chinese_warmed = True
            self._warm_chinese(self.searcher)

    def load_searcher(self) -> Searcher:
        """The index as it is now, never built here; models come from the process's pool.
        (Tests override it to hold or break a reload.)"""
        from qa.library import Policy

        return self.lib.open(Policy.EXISTING)

    # ------------------------------------------------------------------ workers

    @work(thread=True, exclusive=True, group="index", exit_on_error=False)
    def _open(self) -> None:
        """Open the index, building it first when there is none (``Policy.PRESENT``).

        A damaged index is rebuilt from scratch, and one written by another version of qa
        or with other settings is rebuilt (reusing what still holds); one built with other
        models is an error for the user to settle, never silently rebuilt. Notes that
        changed since the build are only reported (the status line offers ctrl+b).
        """
        from qa.library import Policy
        from qa.store.index import IndexError_
        from qa.store.notes import CorpusError

        try:
            searcher = self._given_searcher or self.lib.open(
                Policy.PRESENT,
                self._progress,
                on_build=lambda reason: self.post_message(BuildStarted(reason)),
                published=lambda _: self._reopen(None),  # answer while e5 fills in
            )
            outline, freshness = self._survey(searcher)
        except (CorpusError, IndexError_, OSError, RuntimeError, ValueError) as err:
            self.post_message(IndexFailed(one_line(err)))
            return
        report = self.lib.last_build if self._given_searcher is None else None
        self.post_message(IndexOpened(searcher, outline, freshness, report))

    @work(thread=True, exclusive=True, group="index", exit_on_error=False)
    def _rebuild(self, full: bool) -> None:
        from qa.store.index import IndexError_
        from qa.store.notes import CorpusError

        self.post_message(BuildStarted("re-reading every note" if full else "re-reading the notes"))
        try:
            report = self.lib.build(
                full=full, progress=self._progress, published=lambda _: self._reopen(None)
            )
        except (CorpusError, IndexError_, OSError, RuntimeError, ValueError) as err:
            self.post_message(IndexFailed(one_line(err)))
            return
        self._reopen(report)

    @work(thread=True, group="reload", exit_on_error=False)
    def _reload(self) -> None:
        self._reopen(None, reloaded=True)

    @work(thread=True, exclusive=True, group="freshness", exit_on_error=False)
    def check_freshness(self) -> None:
        """Have the notes changed? Has another process (qa watch) built a newer index?"""
        if self.newer_generation(self.searcher) is not None:
            self.post_message(IndexChanged())
        else:
            self.post_message(FreshnessChecked(self._freshness_now()))

    @work(thread=True, group="models", exit_on_error=False)
    def _load_channel(self, searcher: Searcher, channel: str) -> None:
        try:
            searcher.encoder(channel).warm_up()
        except Exception as err:  # a model that cannot load must not take the app down
            self.post_message(ChannelFailed(searcher, channel, one_line(err)))
        else:
            self.post_message(ChannelReady(searcher, channel))

    @work(thread=True, group="models", exit_on_error=False)
    def _warm_chinese(self, searcher: Searcher) -> None:
        try:
            searcher.tokenizer.warm_up()
            searcher.glossary.expand("预热")
        except Exception:  # only a warm-up: the first Chinese question will load it
            self._chinese_warmed = False

    def _reopen(self, report: BuildReport | None, reloaded: bool = False) -> None:
        """Open the current index again (in a worker) and hand it to the UI."""
        from qa.store.index import IndexError_

        generation = self.lib.generation()
        try:
            searcher = self.load_searcher()
            outline, freshness = self._survey(searcher)
        except (IndexError_, OSError, RuntimeError, ValueError) as err:
            self.post_message(IndexFailed(one_line(err), generation))
            return
        self.post_message(IndexOpened(searcher, outline, freshness, report, reloaded))

    def _survey(self, searcher: Searcher) -> tuple[Outline, Freshness]:
        from qa.retrieve.navigate import Outline

        return Outline.of(searcher.index), self._freshness_now()

    def _freshness_now(self) -> Freshness:
        from qa.store.index import Freshness
        from qa.store.notes import CorpusError

        try:
            return self.lib.freshness()
        except (CorpusError, OSError) as err:
            return Freshness(False, one_line(err))

    def _progress(self, stage: str, done: int, total: int) -> None:
        self.post_message(BuildProgress(stage, done, total))

    # ------------------------------------------------------------------ its own messages

    def on_build_started(self, message: BuildStarted) -> None:
        self.building = True
        self.phase = "building" if self.searcher is None else self.phase
        self.build_reason = message.reason

    def on_index_opened(self, message: IndexOpened) -> None:
        self.searcher = message.searcher
        self.outline = message.outline
        self.freshness = message.freshness
        self.phase = "ready"
        self.problem = ""
        self.reloading = False
        self._unopenable = None
        if message.report is not None:
            self.building = False
            self.notify(build_summary(message.report), title="Index up to date", timeout=6)
        elif message.reloaded:
            self.notify(
                "The index was rebuilt by another qa (qa watch?); answers now use it.",
                title="Index updated",
                timeout=6,
            )
        self.channels = {c: "ready" if c == LEXICAL else "loading" for c in self.settings.channels}
        for channel in self.settings.dense_channels:
            self._load_channel(message.searcher, channel)

    def on_index_failed(self, message: IndexFailed) -> None:
        was_building = self.building
        self.building = False
        if self.reloading:
            # Keep answering from the open index; do not try this generation again.
            self.reloading = False
            self._unopenable = message.generation
        if self.searcher is None:
            self.phase = "failed"
            self.problem = message.message
        title = "Rebuild failed" if was_building and self.searcher else "Cannot open the index"
        self.notify(message.message, title=title, severity="error", timeout=10)

    def on_index_changed(self, message: IndexChanged) -> None:
        # During our own rebuild, the rebuild opens the new index next.
        if not self.building and not self.reloading:
            self.reloading = True
            self._reload()

    def on_channel_ready(self, message: ChannelReady) -> None:
        if message.searcher is not self.searcher:
            message.stop()  # for an index no longer open
            return
        self.channels[message.channel] = "ready"
        self._channels_changed()

    def on_channel_failed(self, message: ChannelFailed) -> None:
        if message.searcher is not self.searcher:
            message.stop()
            return
        self.channels[message.channel] = "failed"
        self.notify(
            f"{message.channel}: {message.message}. Answers use the other channels.",
            title="A model could not load",
            severity="warning",
            timeout=10,
        )
        self._channels_changed()

    def _channels_changed(self) -> None:
        if not self.loading_channels:
            # Loading the Chinese segmenter holds the interpreter for about a second; not
            # while the first (likely English) question is being answered, so later, or
            # as soon as the user starts typing Chinese (see warm_chinese).
            self.set_timer(CHINESE_WARMUP_SECONDS, self.warm_chinese)

    def on_freshness_checked(self, message: FreshnessChecked) -> None:
        if self.building:
            message.stop()
            return
        was_fresh = self.freshness is None or self.freshness.fresh
        self.freshness = message.freshness
        if was_fresh and not message.freshness.fresh:
            self.notify(
                f"{message.freshness.reason} — press ctrl+b to rebuild the index.",
                title="The index is out of date",
                timeout=8,
            )


def one_line(err: BaseException) -> str:
    """The first line of an error's text (its type when it has none)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def build_summary(report: BuildReport) -> str:
    embedded = ", ".join(f"{n} {name}" for name, n in report.embedded.items() if n)
    return (
        f"{report.notes} note{'s' * (report.notes != 1)}, {report.chunks} sections: "
        f"{report.added} added, {report.changed} changed, {report.removed} removed"
        + (f"; embedded {embedded}" if embedded else "")
        + f" ({report.seconds:.1f} s)."
        + (f" {len(report.problems)} note(s) had problems." if report.problems else "")
    )
