"""The Gaps screen: what the notes ask but do not answer, and where the answer may be.

A list of every empty heading, note by note, each with the sections elsewhere that may
answer it (qa.study.gaps). Enter on a candidate opens that section; ctrl+e opens the empty
heading in $EDITOR to write the answer. The report is worked out in a thread worker and
worked out again whenever the app opens a newer index (after ctrl+b, or `qa watch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from qa.display import safe_text
from qa.tui.messages import EditNote, OpenSection
from qa.tui.present import SEPARATOR

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from qa.retrieve.search import Searcher
    from qa.study.gaps import CandidateAnswer, Gap, GapsReport


class GapsFound(Message):
    """The worker worked out the report for ``searcher``'s index."""

    def __init__(self, report: GapsReport, searcher: Searcher) -> None:
        super().__init__()
        self.report = report
        self.searcher = searcher


class GapsFailed(Message):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


@dataclass(frozen=True)
class Row:
    """What one line of the list stands for: a gap, or one of its candidate answers."""

    gap: Gap
    candidate: CandidateAnswer | None = None


class GapsScreen(Screen[None]):
    """Every empty heading of the notes with its candidate answers."""

    DEFAULT_CSS = """
    #gaps-summary { height: auto; padding: 0 1; background: $panel; color: $text-muted; }
    #gaps-list { height: 1fr; border: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("ctrl+e", "edit", "Write the answer"),
        Binding("ctrl+r", "refresh", "Refresh", show=False),
    ]

    def __init__(self, searcher: Searcher, history_path: Path | None = None) -> None:
        super().__init__()
        self.searcher = searcher
        self.history_path = history_path
        self.report: GapsReport | None = None
        self.rows: list[Row | None] = []  # by option index; None for a note's name
        self.updates = 0  # reports shown so far (tests wait on it)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Looking for the gaps in your notes…", id="gaps-summary")
        yield OptionList(id="gaps-list")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.refresh_gaps(self.searcher)

    def refresh_gaps(self, searcher: Searcher) -> None:
        """Work the report out again, on ``searcher``'s index (the app calls this when it
        opens a newer index)."""
        self.searcher = searcher
        if self.report is not None:
            self.query_one("#gaps-summary", Static).update(self._summary(" · updating…"))
        self._find(searcher)

    @work(thread=True, exclusive=True, group="gaps", exit_on_error=False)
    def _find(self, searcher: Searcher) -> None:
        from qa.study import gaps, history

        try:
            asked = history.read(self.history_path) if self.history_path else []
            report = gaps.find_gaps(searcher, asked)
        except Exception as err:  # shown on the screen, never a traceback
            text = str(err).strip()
            self.post_message(GapsFailed(text.splitlines()[0] if text else type(err).__name__))
            return
        self.post_message(GapsFound(report, searcher))

    def on_gaps_found(self, message: GapsFound) -> None:
        if message.searcher is not self.searcher:  # an older index's report
            return
        self.report = message.report
        self.updates += 1
        listing = self.query_one(OptionList)
        highlighted = listing.highlighted
        self.rows, options = [], []
        for file, found in message.report.by_note().items():
            self.rows.append(None)
            name = Content(safe_text(file, one_line=True)).stylize("bold")
            options.append(Option(name, disabled=True))
            for gap in found:
                self.rows.append(Row(gap))
                options.append(Option(self._gap_prompt(gap)))
                for candidate in gap.candidates:
                    self.rows.append(Row(gap, candidate))
                    options.append(Option(self._candidate_prompt(gap, candidate)))
        if message.report.topics:
            self.rows.append(None)
            title = "What to write next: questions asked here that your notes declined"
            options.append(Option(Content(title).stylize("bold"), disabled=True))
        for topic in message.report.topics:
            self.rows.append(None)
            label = safe_text(topic.label, one_line=True)
            prompt = Content.assemble("  ", label, (f"  × {topic.count}", "dim"))
            options.append(Option(prompt, disabled=True))
        listing.clear_options()
        listing.add_options(options)
        first = next((i for i, r in enumerate(self.rows) if r is not None), None)
        if highlighted is not None and highlighted < len(self.rows) and self.rows[highlighted]:
            listing.highlighted = highlighted
        else:
            listing.highlighted = first
        self.query_one("#gaps-summary", Static).update(self._summary())

    def on_gaps_failed(self, message: GapsFailed) -> None:
        self.query_one("#gaps-summary", Static).update(
            Content(safe_text(f"Could not look for gaps: {message.message}", one_line=True))
        )

    def _summary(self, note: str = "") -> Content:
        report = self.report
        if report is None:
            return Content("Looking for the gaps in your notes…")
        if not report.gaps:
            text = "No heading in your notes is waiting for an answer."
        else:
            n = len(report.gaps)
            text = (
                f"{n} heading{'s' * (n != 1)} ask a question with nothing under it; "
                f"{report.answered_elsewhere} may be answered elsewhere. "
                "Enter opens a candidate answer, ctrl+e writes the answer."
            )
        return Content(text + note)

    @staticmethod
    def _gap_prompt(gap: Gap) -> Content:
        where = f"  {gap.place.file}:{gap.place.line}"
        parts: list[str | tuple[str, str]] = [
            ("  ", ""),
            (safe_text(gap.place.heading, one_line=True), "bold"),
            (where, "dim"),
        ]
        if gap.placeholder:
            noted = safe_text(gap.placeholder, one_line=True)
            parts.append((f"  · noted: {noted}", "dim"))
        if gap.template:
            parts.append((f"  · {gap.slot_note}", "dim"))
        elif not gap.candidates:
            parts.append(("  · nothing in your notes yet", "$warning"))
        for dup in gap.duplicates[:2]:
            parts.append((f"  · also asked at {dup.place.file}:{dup.place.line}", "dim"))
        return Content.assemble(*parts)

    @staticmethod
    def _candidate_prompt(gap: Gap, candidate: CandidateAnswer) -> Content:
        place = candidate.place
        path = safe_text(SEPARATOR.join([f"{place.file}:{place.line}", *place.heading_path]), True)
        first = gap.candidates and gap.candidates[0] is candidate
        cue = f"  (confidence {gap.confidence:.2f})" if first else ""
        return Content.assemble(("      → ", "dim"), path, (cue, "dim"))

    def highlighted_row(self) -> Row | None:
        index = self.query_one(OptionList).highlighted
        return self.rows[index] if index is not None and index < len(self.rows) else None

    @on(OptionList.OptionSelected, "#gaps-list")
    def open_candidate(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        row = self.rows[event.option_index]
        if row is None:
            return
        candidate = row.candidate or (row.gap.candidates[0] if row.gap.candidates else None)
        if candidate is None:
            self.notify(
                "Nothing in your notes answers this yet — ctrl+e to write the answer.", timeout=4
            )
            return
        self.post_message(OpenSection(candidate.chunk))

    def action_edit(self) -> None:
        row = self.highlighted_row()
        if row is None:
            self.notify("Choose an empty heading first.", timeout=3)
        else:
            self.post_message(EditNote(row.gap.place.file, row.gap.place.line))

    def action_refresh(self) -> None:
        self.refresh_gaps(self.searcher)

    def action_back(self) -> None:
        self.dismiss()
