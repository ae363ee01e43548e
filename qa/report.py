"""Printing evaluation reports in the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from qa.evaluate import METRICS, Report

GROUP_NAMES = {"all": "all", "en": "English", "zh": "Chinese"}


def metrics_table(report: Report, title: str = "Retrieval quality") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("questions", justify="left")
    table.add_column("n", justify="right")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    for group in ("en", "zh", "all"):
        if group not in report.groups:
            continue
        values = report.groups[group]
        table.add_row(
            GROUP_NAMES[group], str(report.counts[group]), *(f"{values[m]:.3f}" for m in METRICS)
        )
    return table


def declines_table(report: Report) -> Table:
    table = Table(title="Knowing when the notes have no answer", title_justify="left")
    table.add_column("questions", justify="left")
    table.add_column("off-topic", justify="right")
    table.add_column("off-topic declined", justify="right")
    table.add_column("answerable declined", justify="right")
    for group in ("en", "zh", "all"):
        if group in report.declines:
            d = report.declines[group]
            table.add_row(GROUP_NAMES[group], str(int(d["off_topic"])),
                          f"{d['off_topic_declined']:.3f}", f"{d['answerable_declined']:.3f}")
    return table


def print_eval_report(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    console.print(metrics_table(report))
    console.print(declines_table(report))
    missed = report.missed
    if not missed:
        console.print("Every answerable question had a relevant passage first.")
        return
    console.print(f"\n{len(missed)} questions without a relevant passage first:")
    for o in missed:
        where = f"rank {o.first_relevant}" if o.first_relevant else "not in top 10"
        top = " > ".join(o.top[0].heading_path[-2:]) if o.top else "nothing"
        console.print(
            f"  [{o.item.lang}] {o.item.question}  —  {where}; first: {top}; "
            f"wanted: {' | '.join(o.item.relevant)}",
            markup=False,
            highlight=False,
        )
