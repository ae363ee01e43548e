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
        table.add_row(GROUP_NAMES[group], str(report.counts[group]),
                      *(f"{values[m]:.3f}" for m in METRICS))
    return table


def print_eval_report(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    console.print(metrics_table(report))
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
            markup=False, highlight=False,
        )
