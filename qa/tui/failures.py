"""``qa eval --browse``: walk through the questions retrieval got wrong.

Left: the missed questions (relevant passage not first). Right: what the labelled set
expected, and what ranked first instead, with their text.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, ListItem, ListView, Markdown, Static

from qa.display import safe_text
from qa.eval.evaluate import Outcome, Report, Target
from qa.store.chunks import Chunk


def describe(outcome: Outcome, chunks: list[Chunk]) -> str:
    """Markdown: the question, the expected sections and what came first."""
    item = outcome.item
    where = f"rank {outcome.first_relevant}" if outcome.first_relevant else "not in the top ten"
    lines = [
        f"## {item.question}",
        "",
        f"*{item.lang}* · relevant passage at **{where}**",
        "",
        "### Expected",
    ]
    for entry in item.relevant:
        target = Target.parse(entry)
        found = [
            c for c in chunks if c.answered and any(target.matches(loc) for loc in c.locations)
        ]
        lines.append(f"- `{entry}`")
        for c in found[:1]:
            loc = c.location
            lines += [
                f"  - {loc.file}:{loc.start_line} — {' › '.join(loc.heading_path)}",
                "",
                _quote(c.text),
                "",
            ]
    lines.append("### Ranked first instead")
    for rank, c in enumerate(outcome.top[:3], start=1):
        loc = c.location
        lines += [f"{rank}. {loc.file}:{loc.start_line} — {' › '.join(loc.heading_path)}"]
        if rank == 1:
            lines += ["", _quote(c.text), ""]
    return "\n".join(lines)


def _quote(text: str, limit: int = 600) -> str:
    short = text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
    return "\n".join("> " + line for line in short.splitlines())


class FailureBrowser(App[None]):
    """Missed questions on the left, the evidence on the right."""

    TITLE = "qa eval — missed questions"
    CSS = """
    #missed { width: 45%; border-right: solid $primary; }
    #detail { width: 1fr; padding: 0 1; }
    ListItem > Static { padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("j", "cursor_down", "Next", show=False),
        Binding("k", "cursor_up", "Previous", show=False),
    ]

    def __init__(self, report: Report, chunks: list[Chunk]):
        super().__init__()
        self.missed = report.missed
        self.chunks = chunks

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield ListView(
                *[ListItem(Static(self._label(o), markup=False)) for o in self.missed],
                id="missed",
            )
            with VerticalScroll(id="detail"):
                yield Markdown(self._empty(), id="evidence")
        yield Footer()

    def _label(self, o: Outcome) -> str:
        rank = o.first_relevant or "—"
        return safe_text(f"[{o.item.lang}] {rank:>2}  {o.item.question}", one_line=True)

    def _empty(self) -> str:
        if not self.missed:
            return "Every answerable question had a relevant passage first."
        return f"{len(self.missed)} missed questions. Pick one on the left."

    def on_mount(self) -> None:
        if self.missed:
            self.query_one(ListView).index = 0

    def on_list_view_highlighted(self, event: ListView.Highlighted) -> None:
        index = self.query_one(ListView).index
        if index is not None and 0 <= index < len(self.missed):
            text = safe_text(describe(self.missed[index], self.chunks))
            self.query_one("#evidence", Markdown).update(text)

    def action_cursor_down(self) -> None:
        self.query_one(ListView).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(ListView).action_cursor_up()


def browse_failures(report: Report, chunks: list[Chunk]) -> None:
    FailureBrowser(report, chunks).run()
