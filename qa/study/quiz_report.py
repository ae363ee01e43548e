"""``qa quiz --stats``: the review log as rich tables, and as a chart (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.table import Table

from qa.display import safe_text
from qa.study.quiz_store import QuizStats


def stats_tables(stats: QuizStats) -> Group:
    """Reviews per day, retention, cards due per note, the most forgotten cards."""
    retention = "—" if stats.retention is None else f"{stats.retention:.0%}"
    summary = Table(title="Quiz", show_header=False)
    summary.add_column("what")
    summary.add_column("value", justify="right")
    summary.add_row("cards", str(stats.cards))
    summary.add_row("suspended", str(stats.suspended))
    summary.add_row("retired (section gone)", str(stats.retired))
    summary.add_row("reviews", str(stats.reviews))
    summary.add_row("retention (repeat reviews not 'again')", retention)

    days = Table(title=f"Reviews per day (last {len(stats.days)} days)")
    days.add_column("day")
    days.add_column("reviews", justify="right")
    days.add_column("again", justify="right")
    for day, n, again in stats.days:
        if n:
            days.add_row(day, str(n), str(again))
    if not any(n for _, n, _ in stats.days):
        days.add_row("(none)", "0", "0")

    notes = Table(title="Cards per note")
    notes.add_column("note")
    notes.add_column("cards", justify="right")
    notes.add_column("new", justify="right")
    notes.add_column("due today", justify="right")
    for file, cards, new, due in stats.per_note:
        notes.add_row(safe_text(file, one_line=True), str(cards), str(new), str(due))

    forgotten = Table(title="Most forgotten")
    forgotten.add_column("card")
    forgotten.add_column("where")
    forgotten.add_column("again", justify="right")
    forgotten.add_column("reviews", justify="right")
    for front, file, line, again, n in stats.forgotten:
        forgotten.add_row(
            safe_text(front, one_line=True), safe_text(f"{file}:{line}"), str(again), str(n)
        )
    if not stats.forgotten:
        forgotten.add_row("(nothing forgotten yet)", "", "", "")
    return Group(summary, days, notes, forgotten)


def write_stats_png(stats: QuizStats, path: Path) -> None:
    """Reviews per day (stacked: again / recalled) and cards due per note."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [d[5:] for d, _, _ in stats.days]
    again = [a for _, _, a in stats.days]
    recalled = [n - a for _, n, a in stats.days]
    left.bar(labels, recalled, label="recalled", color="#4c9a6a")
    left.bar(labels, again, bottom=recalled, label="again", color="#c0504d")
    left.set_title("Reviews per day")
    left.tick_params(axis="x", rotation=60, labelsize=7)
    left.legend()
    notes = [Path(f).stem[:24] for f, *_ in stats.per_note]
    right.barh(notes, [due for *_, due in stats.per_note], color="#4f81bd", label="due today")
    right.barh(
        notes,
        [new for _, _, new, _ in stats.per_note],
        left=[due for *_, due in stats.per_note],
        color="#bbbbbb",
        label="new",
    )
    right.set_title("Cards per note")
    right.legend()
    retention = "—" if stats.retention is None else f"{stats.retention:.0%}"
    fig.suptitle(f"qa quiz: {stats.reviews} reviews, retention {retention}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
