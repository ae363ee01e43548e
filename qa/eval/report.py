"""Evaluation reports: terminal tables (rich), Markdown, and a PNG chart."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from qa.display import safe_text
from qa.eval.evaluate import METRICS, Report

if TYPE_CHECKING:
    from qa.eval.workbench import Change, Comparison, Coverage, Diff

GROUP_NAMES = {"all": "all", "en": "English", "zh": "Chinese"}
LANGS = ("en", "zh", "all")


def metrics_table(report: Report, title: str = "Retrieval quality") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("questions", justify="left")
    table.add_column("n", justify="right")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    for group in LANGS:
        if group not in report.groups:
            continue
        values = report.groups[group]
        table.add_row(
            GROUP_NAMES[group], str(report.counts[group]), *(f"{values[m]:.3f}" for m in METRICS)
        )
    return table


def rate(value: float | None) -> str:
    """A share to three places, or "—" when there was nothing to count."""
    return "—" if value is None else f"{value:.3f}"


def declines_table(report: Report) -> Table:
    table = Table(title="Knowing when the notes have no answer", title_justify="left")
    table.add_column("questions", justify="left")
    table.add_column("off-topic", justify="right")
    table.add_column("off-topic declined", justify="right")
    table.add_column("answerable declined", justify="right")
    for group in LANGS:
        if group in report.declines:
            d = report.declines[group]
            table.add_row(
                GROUP_NAMES[group],
                str(int(d["off_topic"] or 0)),
                rate(d["off_topic_declined"]),
                rate(d["answerable_declined"]),
            )
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
            safe_text(
                f"  [{o.item.lang}] {o.item.question}  —  {where}; first: {top}; "
                f"wanted: {' | '.join(o.item.relevant)}",
                one_line=True,
            ),
            markup=False,
            highlight=False,
        )


def channels_table(reports: Mapping[str, Report]) -> Table:
    table = Table(title="By channel", title_justify="left")
    table.add_column("channel")
    for lang in LANGS:
        table.add_column(f"{GROUP_NAMES[lang]} hit@1", justify="right")
        table.add_column(f"{GROUP_NAMES[lang]} mrr@10", justify="right")
    for name, report in reports.items():
        cells = []
        for lang in LANGS:
            g = report.groups.get(lang, {})
            cells += [f"{g.get('hit@1', 0):.3f}", f"{g.get('mrr@10', 0):.3f}"]
        table.add_row(safe_text(name, one_line=True), *cells)
    return table


def print_comparison(comparison: Comparison, console: Console | None = None) -> None:
    console = console or Console()
    a, b = comparison.names
    for lang in LANGS:
        rows = comparison.table.get(lang)
        if not rows:
            continue
        table = Table(
            title=f"{GROUP_NAMES[lang]} ({comparison.counts[lang]} questions): {a} vs {b}",
            title_justify="left",
        )
        for col in ("metric", a, b, "Δ", "p", ""):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for metric, c in rows.items():
            mark = "significant" if c.p_value < 0.05 else ""
            table.add_row(
                metric, f"{c.a:.3f}", f"{c.b:.3f}", f"{c.delta:+.3f}", f"{c.p_value:.3f}", mark
            )
        console.print(table)
    console.print(
        "p: paired permutation test over the same questions (scipy), two-sided; "
        "significant at p < 0.05."
    )


def print_diff(diff: Diff, name: str, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"Against baseline {name!r}", title_justify="left")
    table.add_column("questions")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    for lang in LANGS:
        if lang in diff.metric_deltas:
            table.add_row(
                GROUP_NAMES[lang], *(f"{diff.metric_deltas[lang][m]:+.3f}" for m in METRICS)
            )
    console.print(table)

    def show(title: str, changes: list[Change]) -> None:
        console.print(f"\n{title} ({len(changes)}):")
        for c in changes:
            before = c.before or "—"
            after = c.after or "—"
            console.print(
                safe_text(
                    f"  [{c.lang}] {c.question}  rank {before} → {after} ({c.ranks_moved:+d})",
                    one_line=True,
                ),
                markup=False,
                highlight=False,
            )

    show("Better", diff.better)
    show("Worse", diff.worse)
    if diff.missing:
        console.print(f"\n{diff.missing} baseline questions are no longer in the labelled set.")


def print_coverage(cov: Coverage, console: Console | None = None) -> None:
    console = console or Console()
    console.print(
        f"\nSections no labelled question retrieves in its top ten: "
        f"{len(cov.unretrieved)} of {cov.sections}"
    )
    for file, line, path in cov.unretrieved:
        console.print(
            safe_text(f"  {file}:{line}  {' › '.join(path)}", one_line=True),
            markup=False,
            highlight=False,
        )
    console.print(f"\nHeadings repeated across files (boilerplate?): {len(cov.repeated)}")
    for heading, count, files in cov.repeated:
        console.print(
            safe_text(f"  {heading!r} ×{count} in {', '.join(files)}", one_line=True),
            markup=False,
            highlight=False,
        )


def markdown_report(report: Report, channels: Mapping[str, Report] | None = None) -> str:
    """The evaluation as Markdown tables, for notes or pull requests."""
    lines = [
        "# qa eval",
        "",
        "## Retrieval quality",
        "",
        "| questions | n | " + " | ".join(METRICS) + " |",
        "|---|---:|" + "---:|" * len(METRICS),
    ]
    for lang in LANGS:
        if lang in report.groups:
            values = report.groups[lang]
            lines.append(
                f"| {GROUP_NAMES[lang]} | {report.counts[lang]} | "
                + " | ".join(f"{values[m]:.3f}" for m in METRICS)
                + " |"
            )
    lines += [
        "",
        "## Declines",
        "",
        "| questions | off-topic | off-topic declined | answerable declined |",
        "|---|---:|---:|---:|",
    ]
    for lang in LANGS:
        if lang in report.declines:
            d = report.declines[lang]
            lines.append(
                f"| {GROUP_NAMES[lang]} | {int(d['off_topic'] or 0)} | "
                f"{rate(d['off_topic_declined'])} | {rate(d['answerable_declined'])} |"
            )
    if channels:
        lines += [
            "",
            "## By channel (hit@1 / mrr@10)",
            "",
            "| channel | " + " | ".join(GROUP_NAMES[lang] for lang in LANGS) + " |",
            "|---|" + "---:|" * len(LANGS),
        ]
        for name, r in channels.items():
            cells = [
                f"{r.groups[lang]['hit@1']:.3f} / {r.groups[lang]['mrr@10']:.3f}"
                if lang in r.groups
                else "—"
                for lang in LANGS
            ]
            lines.append(safe_text(f"| {name} | ", one_line=True) + " | ".join(cells) + " |")
    missed = report.missed
    lines += ["", f"## Questions without a relevant passage first ({len(missed)})", ""]
    for o in missed:
        where = f"rank {o.first_relevant}" if o.first_relevant else "not in top 10"
        lines.append(safe_text(f"- [{o.item.lang}] {o.item.question} — {where}", one_line=True))
    return "\n".join(lines) + "\n"


PNG_SIZE = (900, 500)  # pixels


def write_png(path: Path, channels: Mapping[str, Report]) -> None:
    """Grouped bars: hit@1 and mrr@10 for each channel (or setting), by language."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dpi = 100
    fig, axes = plt.subplots(1, 2, figsize=(PNG_SIZE[0] / dpi, PNG_SIZE[1] / dpi), dpi=dpi)
    names = list(channels)
    width = 0.8 / len(LANGS)
    for ax, metric in zip(axes, ("hit@1", "mrr@10"), strict=True):
        for i, lang in enumerate(LANGS):
            values = [channels[n].groups.get(lang, {}).get(metric, 0.0) for n in names]
            xs = [x + (i - 1) * width for x in range(len(names))]
            ax.bar(xs, values, width, label=GROUP_NAMES[lang])
        ax.set_xticks(range(len(names)), names)
        ax.set_ylim(0, 1)
        ax.set_title(metric)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle("qa eval: retrieval quality by channel and language")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
