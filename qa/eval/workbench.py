"""``qa eval`` as a workbench: compare settings, diff against a baseline, see coverage.

Every score comes from the metrics in ``qa.eval.evaluate`` (one implementation for plain
``qa eval``, comparisons and baselines). A comparison adds a paired significance test
over the same questions: a two-sided permutation test (``scipy.stats.permutation_test``
with ``permutation_type="samples"``, i.e. each question's pair of scores swapped at
random; exact when there are few questions), with a fixed seed so the same runs give
the same p-values.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from qa.eval.evaluate import CUTOFF, METRICS, Labelled, Outcome, Report, evaluate
from qa.library import Library
from qa.retrieve.search import Searcher
from qa.settings import LEXICAL, Settings
from qa.store.index import BuildProgress, Index

LANGS = ("en", "zh", "all")
RESAMPLES = 9999  # random swaps per metric (an exact test when 2**questions is fewer)
SEED = 42


def searcher_for(
    lib: Library, settings: Settings, progress: BuildProgress | None = None
) -> Searcher:
    """A searcher for ``settings``: on the main index when it has every channel needed,
    else on an index of its own under ``<index>/variants/`` (built if needed)."""
    wanted = lib.with_settings(settings)
    if wanted.freshness(covering=True).fresh:
        return Searcher(Index.load(lib.index_dir), settings, pool=lib.pool)
    key = json.dumps(settings.to_json(), sort_keys=True)
    variant = Path(lib.index_dir) / "variants" / hashlib.sha1(key.encode()).hexdigest()[:12]
    return lib.with_settings(settings, variant).open(progress=progress)


def run_eval(searcher: Searcher, items: Sequence[Labelled]) -> Report:
    return evaluate(items, lambda q: searcher.search(q, CUTOFF, spans=False))


# ---------------------------------------------------------------------------- comparing


@dataclass
class MetricComparison:
    a: float
    b: float
    p_value: float

    @property
    def delta(self) -> float:
        return self.b - self.a


@dataclass
class Comparison:
    """Two named settings on the same questions, per language and metric."""

    names: tuple[str, str]
    reports: tuple[Report, Report]
    table: dict[str, dict[str, MetricComparison]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    test: str = ""  # which significance test gave the p-values

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.names[0],
            "b": self.names[1],
            "test": self.test,
            "counts": self.counts,
            "metrics": {
                lang: {
                    m: {"a": c.a, "b": c.b, "delta": c.delta, "p_value": c.p_value}
                    for m, c in rows.items()
                }
                for lang, rows in self.table.items()
            },
            "declines": {
                self.names[0]: self.reports[0].declines,
                self.names[1]: self.reports[1].declines,
            },
        }


def describe_test(n_resamples: int = RESAMPLES, seed: int = SEED) -> str:
    return (
        "paired permutation test, two-sided, on the mean difference per question "
        f"(scipy.stats.permutation_test, permutation_type='samples', {n_resamples} resamples "
        f"or exact, seed {seed})"
    )


def paired_p_value(
    a: Sequence[float], b: Sequence[float], n_resamples: int = RESAMPLES, seed: int = SEED
) -> float:
    """Two-sided p-value that per-question scores ``a`` and ``b`` (same questions, same
    order) have the same mean: each question's two scores are swapped at random."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or np.array_equal(x, y):
        # one question: its swap is as extreme as what was seen, so p = 1 (and scipy
        # wants two); equal scores: every swap gives the same mean
        return 1.0
    from scipy.stats import permutation_test

    def mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    result = permutation_test(
        (x, y),
        mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        batch=1000,  # same p-value, less memory and faster than all resamples at once
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return float(min(1.0, max(0.0, result.pvalue)))


def paired_scores(
    a: Sequence[Outcome], b: Sequence[Outcome], n_resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, MetricComparison]:
    """Metric means (``qa.eval.evaluate``'s) of two runs over the same answerable questions,
    with paired p-values; empty when no question is answerable."""
    pairs = [(oa, ob) for oa, ob in zip(a, b, strict=True) if oa.item.answerable]
    if not pairs:
        return {}
    table = {}
    for metric in METRICS:
        xs = [oa.metrics[metric] for oa, _ in pairs]
        ys = [ob.metrics[metric] for _, ob in pairs]
        table[metric] = MetricComparison(
            sum(xs) / len(xs), sum(ys) / len(ys), paired_p_value(xs, ys, n_resamples, seed)
        )
    return table


def compare_reports(
    names: tuple[str, str], a: Report, b: Report, n_resamples: int = RESAMPLES, seed: int = SEED
) -> Comparison:
    comparison = Comparison(names, (a, b), test=describe_test(n_resamples, seed))
    for lang in LANGS:
        pick = [i for i, o in enumerate(a.outcomes) if lang == "all" or o.item.lang == lang]
        outs_a = [a.outcomes[i] for i in pick]
        outs_b = [b.outcomes[i] for i in pick]
        comparison.counts[lang] = sum(o.item.answerable for o in outs_a)
        if comparison.counts[lang]:
            comparison.table[lang] = paired_scores(outs_a, outs_b, n_resamples, seed)
    return comparison


# ---------------------------------------------------------------------------- baselines


def baseline_path(name: str, questions: Path) -> Path:
    """A bare NAME lives in ``baselines/`` beside the labelled questions; a path is a path."""
    if "/" in name or name.endswith(".json"):
        return Path(name)
    return Path(questions).parent / "baselines" / f"{name}.json"


def save_baseline(report: Report, path: Path, settings: Settings) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": settings.to_json(),
        "metrics": report.groups,
        "declines": report.declines,
        "questions": [
            {
                "question": o.item.question,
                "lang": o.item.lang,
                "relevant": list(o.item.relevant),
                "rank": o.first_relevant,
                "declined": o.declined,
                "top": list(o.top[0].heading_path) if o.top else None,
            }
            for o in report.outcomes
        ],
    }
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


class BaselineError(ValueError):
    pass


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data.get("questions"), list):
            raise ValueError("no questions in it")
        return data
    except FileNotFoundError:
        raise BaselineError(
            f"no baseline at {path}; save one first with `qa eval --save-baseline NAME`"
        ) from None
    except (ValueError, AttributeError) as err:
        raise BaselineError(f"{path} is not a qa baseline ({err})") from None


@dataclass
class Change:
    """A question whose first relevant passage moved."""

    question: str
    lang: str
    before: int | None  # rank within the top ten, None when not found
    after: int | None

    @property
    def ranks_moved(self) -> int:
        """Positive when the answer moved up; a miss counts as rank 11."""
        miss = CUTOFF + 1
        return (self.before or miss) - (self.after or miss)


@dataclass
class Diff:
    better: list[Change]
    worse: list[Change]
    metric_deltas: dict[str, dict[str, float]]
    missing: int  # baseline questions no longer in the labelled set


def diff_against(report: Report, baseline: dict[str, Any]) -> Diff:
    before = {(q["question"], tuple(q["relevant"])): q for q in baseline["questions"]}
    better, worse = [], []
    seen = set()
    for o in report.outcomes:
        key = (o.item.question, tuple(o.item.relevant))
        old = before.get(key)
        if old is None or not o.item.answerable:
            continue
        seen.add(key)
        change = Change(o.item.question, o.item.lang, old["rank"], o.first_relevant)
        if change.ranks_moved > 0:
            better.append(change)
        elif change.ranks_moved < 0:
            worse.append(change)
    better.sort(key=lambda c: -c.ranks_moved)
    worse.sort(key=lambda c: c.ranks_moved)
    deltas = {
        lang: {m: report.groups[lang][m] - baseline["metrics"][lang][m] for m in METRICS}
        for lang in report.groups
        if lang in baseline.get("metrics", {})
    }
    missing = sum(1 for k, q in before.items() if q["relevant"] and k not in seen)
    return Diff(better, worse, deltas, missing)


# ---------------------------------------------------------------------------- coverage


@dataclass
class Coverage:
    unretrieved: list[tuple[str, int, tuple[str, ...]]]  # file, line, heading path
    sections: int
    repeated: list[tuple[str, int, list[str]]]  # heading, occurrences, files


def coverage(report: Report, index: Index, min_repeats: int = 3) -> Coverage:
    """Sections no labelled question retrieves in its top ten; boilerplate headings."""
    retrieved = {c.section_key for o in report.outcomes for c in o.top}
    sections: dict[tuple[str, int], tuple[str, ...]] = {}
    for chunk in index.chunks:
        if chunk.answered:
            sections.setdefault(chunk.section_key, chunk.heading_path)
    unretrieved = sorted(
        (file, line, path)
        for (file, line), path in sections.items()
        if (file, line) not in retrieved
    )
    places: dict[str, set[tuple[str, int]]] = defaultdict(set)
    files: dict[str, set[str]] = defaultdict(set)
    for chunk in index.chunks:
        for loc in chunk.locations:
            heading = " ".join(loc.heading_path[-1].lower().split())
            places[heading].add((loc.file, loc.section_line))
            files[heading].add(loc.file)
    repeated = sorted(
        (
            (h, len(p), sorted(files[h]))
            for h, p in places.items()
            if len(p) >= min_repeats and len(files[h]) >= 2
        ),
        key=lambda r: -r[1],
    )
    return Coverage(unretrieved, len(sections), repeated)


# ---------------------------------------------------------------------------- channels


def by_channel(
    settings: Settings, make: Callable[[Settings], Searcher], items: Sequence[Labelled]
) -> dict[str, Report]:
    """Each channel alone, then all of them fused."""
    reports = {}
    for channel in settings.channels:
        if channel == LEXICAL:
            alone = replace(settings, models=())
        else:
            model = dict(zip(settings.dense_channels, settings.models, strict=True))[channel]
            alone = replace(settings, models=(model,), lexical=False)
        reports[channel] = run_eval(make(alone), items)
    reports["fused"] = run_eval(make(settings), items)
    return reports
