"""``qa eval`` as a workbench: compare settings, diff against a baseline, see coverage.

Plain ``qa eval`` scores with the metrics in ``qa.evaluate`` (hand-written: importing and
JIT-compiling ranx takes ~7 s warm and about a minute the first time, too slow for a
command people run after every edit; ``tests/test_workbench.py`` checks that both give
the same numbers on the whole labelled set). Comparisons use ranx: its metrics and its
paired significance test (Fisher's randomization test) over the same questions.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.evaluate import CUTOFF, METRICS, Labelled, Outcome, Report, Target, evaluate
from qa.index import BuildProgress, Index, check_freshness
from qa.search import Searcher
from qa.settings import LEXICAL, Settings

RANX_METRICS = {
    "hit@1": "hit_rate@1",
    "hit@3": "hit_rate@3",
    "hit@5": "hit_rate@5",
    "mrr@10": "mrr@10",
    "ndcg@10": "ndcg@10",
    "recall@10": "recall@10",
}
LANGS = ("en", "zh", "all")


def searcher_for(
    corpus: Path, index_dir: Path, settings: Settings, progress: BuildProgress | None = None
) -> Searcher:
    """A searcher for ``settings``: on the main index when it has every channel needed,
    else on an index of its own under ``<index>/variants/`` (built if needed)."""
    if check_freshness(corpus, index_dir, settings, covering=True).fresh:
        return Searcher(Index.load(index_dir), settings)
    key = json.dumps(settings.to_json(), sort_keys=True)
    variant = Path(index_dir) / "variants" / hashlib.sha1(key.encode()).hexdigest()[:12]
    return Searcher.open(corpus, variant, settings, progress=progress)


def run_eval(searcher: Searcher, items: Sequence[Labelled]) -> Report:
    return evaluate(items, lambda q: searcher.search(q, CUTOFF))


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

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.names[0],
            "b": self.names[1],
            "test": "Fisher randomization test (paired, two-sided), ranx",
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


def ranx_run(
    outcomes: Sequence[Outcome],
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    """Qrels and a run in ranx's terms for answerable questions.

    Each relevant entry is a document; a hit that satisfies an entry not yet satisfied
    becomes that document, any other hit stays itself (a second window of an already
    found section earns nothing, as in ``qa.evaluate``).
    """
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for n, o in enumerate(outcomes):
        if not o.item.answerable:
            continue
        qid = f"q{n}"
        targets = [Target.parse(r) for r in o.item.relevant]
        qrels[qid] = {f"target{i}": 1 for i in range(len(targets))}
        docs: dict[str, float] = {}
        found: set[int] = set()
        for rank, chunk in enumerate(o.top[:CUTOFF], start=1):
            new = [
                i
                for i, t in enumerate(targets)
                if i not in found and any(t.matches(loc) for loc in chunk.locations)
            ]
            if new:
                found.add(new[0])
                doc = f"target{new[0]}"
            else:
                doc = f"chunk-{chunk.id}-{rank}"
            docs[doc] = 1.0 / rank
        run[qid] = docs or {"nothing": 0.0}
    return qrels, run


def ranx_scores(
    a: Sequence[Outcome], b: Sequence[Outcome], n_permutations: int = 1000
) -> dict[str, MetricComparison]:
    """Metric means of two runs over the same questions, with paired p-values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ranx import Qrels, Run, compare

        qrels_a, run_a = ranx_run(a)
        _, run_b = ranx_run(b)
        if not qrels_a:
            return {}
        report = compare(
            Qrels(qrels_a),
            [Run(run_a, name="A"), Run(run_b, name="B")],
            metrics=list(RANX_METRICS.values()),
            stat_test="fisher",
            n_permutations=n_permutations,
            random_seed=42,
        )
    data = report.to_dict()
    return {
        ours: MetricComparison(
            float(data["A"]["scores"][theirs]),
            float(data["B"]["scores"][theirs]),
            float(data["A"]["comparisons"]["B"][theirs]),
        )
        for ours, theirs in RANX_METRICS.items()
    }


def compare_reports(names: tuple[str, str], a: Report, b: Report) -> Comparison:
    comparison = Comparison(names, (a, b))
    for lang in LANGS:
        pick = [i for i, o in enumerate(a.outcomes) if lang == "all" or o.item.lang == lang]
        outs_a = [a.outcomes[i] for i in pick]
        outs_b = [b.outcomes[i] for i in pick]
        comparison.counts[lang] = sum(o.item.answerable for o in outs_a)
        if comparison.counts[lang]:
            comparison.table[lang] = ranx_scores(outs_a, outs_b)
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
