"""The section viewer: a whole section, with keys to its parent and its neighbours."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from qa.display import safe_text
from qa.retrieve.navigate import Outline, OutlineSection
from qa.retrieve.passage import protect_math
from qa.tui.messages import CopyText, EditNote
from qa.tui.present import SEPARATOR
from qa.tui.widgets import HighlightedMarkdown

if TYPE_CHECKING:
    from textual.app import ComposeResult


class SectionScreen(Screen[None]):
    """One section of a note, all of its windows; p, [ and ] move around the note."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("p", "parent", "Parent"),
        Binding("left_square_bracket", "previous", "Previous", key_display="["),
        Binding("right_square_bracket", "next", "Next", key_display="]"),
        Binding("o", "edit", "Edit note"),
        Binding("y", "copy", "Copy"),
    ]

    def __init__(
        self,
        outline: Outline,
        section: OutlineSection,
        pattern: re.Pattern[str] | None = None,
    ) -> None:
        super().__init__()
        self.outline = outline
        self.section = section
        self.pattern = pattern

    @property
    def crumb(self) -> str:
        s = self.section
        where = f"{s.file}:{s.line}" if s.line_known else f"{s.file}:~{s.line}"
        if s.is_root:
            return safe_text(s.file, one_line=True)
        return safe_text(SEPARATOR.join([where, *s.heading_path]), one_line=True)

    def compose(self) -> ComposeResult:
        s = self.section
        yield Header()
        yield Static(Content(self.crumb), id="section-crumb")
        with VerticalScroll(id="section-scroll"):
            yield Static(Content(safe_text(s.title)).stylize("bold"), id="section-title")
            if s.has_text:
                yield HighlightedMarkdown(
                    protect_math(s.text), pattern=self.pattern, id="section-body"
                )
            elif not s.children:
                yield Static(
                    "Your notes have no answer under this heading yet — press o to write one.",
                    id="section-empty",
                )
            if s.places:
                others = ", ".join(f"{p.file}:{p.section_line}" for p in s.places)
                yield Static(Content(safe_text(f"Also in {others}")), classes="card-note")
            if s.children:
                yield Static(
                    f"{'Notes' if s.is_root else 'Sections'} under it ({len(s.children)}) "
                    "— Enter opens one",
                    id="section-children-title",
                )
                yield OptionList(
                    *[Option(self._child_prompt(c)) for c in s.children], id="section-children"
                )
        yield Footer()

    @staticmethod
    def _child_prompt(child: OutlineSection) -> Content:
        note = "" if child.has_text or child.children else " · no answer yet"
        count = f" · {len(child.children)} under it" if child.children else ""
        return Content.assemble(
            safe_text(child.title, one_line=True), (f"  line {child.line}{count}{note}", "dim")
        )

    def on_mount(self) -> None:
        self.query_one("#section-scroll").focus()

    async def show(self, section: OutlineSection, came_from: OutlineSection | None = None) -> None:
        self.section = section
        await self.recompose()
        self.query_one("#section-scroll").focus()
        if came_from is not None and came_from in section.children:
            # Going up: the list under the parent starts at the section we left.
            children = self.query_one("#section-children", OptionList)
            children.highlighted = section.children.index(came_from)

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        await self.show(self.section.children[event.option_index])

    def action_back(self) -> None:
        self.dismiss()

    async def action_parent(self) -> None:
        parent = self.section.parent
        if parent is None:
            self.notify("This is the whole note; there is nothing above it.", timeout=3)
            return
        await self.show(parent, came_from=self.section)

    async def action_previous(self) -> None:
        await self._step(self.outline.previous(self.section), "previous")

    async def action_next(self) -> None:
        await self._step(self.outline.next(self.section), "next")

    async def _step(self, section: OutlineSection | None, which: str) -> None:
        if section is None:
            self.notify(f"No {which} section at this level.", timeout=3)
            return
        await self.show(section)

    def action_edit(self) -> None:
        self.post_message(EditNote(self.section.file, self.section.line))

    def action_copy(self) -> None:
        s = self.section
        text = s.text or "\n".join(f"- {c.title}" for c in s.children)
        self.post_message(CopyText(text, f"{s.file}:{s.line}"))
