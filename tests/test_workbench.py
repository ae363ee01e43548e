"""qa eval as a workbench: comparisons, significance, baselines, coverage, reports."""

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from qa.cli import main
from qa.eval.evaluate import Labelled, Outcome, summarise
from qa.eval.report import PNG_SIZE, write_png
from qa.eval.workbench import (
    compare_reports,
    coverage,
    diff_against,
    paired_p_value,
    paired_scores,
)
from qa.models.encoders import UnknownNameError
from qa.presets import PresetError, get_preset, load_presets
from qa.store.chunks import Chunk, Location
from qa.store.index import current_generation, read_manifest

SMALL = Path(__file__).parent / "fixtures" / "small"


def chunk(heading: str, file: str = "n.md", line: int = 1, answered: bool = True) -> Chunk:
    loc = Location(file, line, line + 2, ("Notes", heading), line)
    return Chunk(
        f"id-{file}-{line}",
        ("Notes", heading),
        "text" if answered else "",
        answered,
        locations=[loc],
    )


def outcome(question: str, relevant: list[str], top: list[Chunk], lang: str = "en") -> Outcome:
    from qa.eval.evaluate import Target, matched_targets, question_metrics

    targets = [Target.parse(r) for r in relevant]
    ranked = [matched_targets(c, targets) for c in top]
    first = next((i + 1 for i, m in enumerate(ranked) if m), None)
    metrics = question_metrics(ranked, len(targets)) if targets else {}
    return Outcome(Labelled(question, tuple(relevant), lang), metrics, first, top)


A, B, C = chunk("Alpha", line=1), chunk("Beta", line=10), chunk("Gamma", line=20)


FEW = 999  # resamples in these tests: enough to tell p < 0.01 from p > 0.5, and fast


def test_a_clear_difference_is_significant() -> None:
    # B finds the answer first on all 20 questions, A only at rank 3.
    good = [outcome(f"q{i}", ["Alpha"], [A, B, C]) for i in range(20)]
    bad = [outcome(f"q{i}", ["Alpha"], [B, C, A]) for i in range(20)]
    scores = paired_scores(bad, good, n_resamples=FEW)
    assert scores["hit@1"].a == 0.0 and scores["hit@1"].b == 1.0
    assert scores["mrr@10"].a == pytest.approx(1 / 3)
    assert scores["hit@1"].p_value < 0.01 and scores["mrr@10"].p_value < 0.01
    assert scores["hit@5"].delta == 0.0 and scores["hit@5"].p_value == 1.0  # both find it


def test_a_small_mixed_difference_is_not_significant() -> None:
    # B wins 6 questions, loses 4, ties 10: under the null, half of all sign swaps move
    # the mean at least this far, so p is about 0.75.
    first, third = [A, B, C], [B, C, A]
    a = [outcome(f"q{i}", ["Alpha"], third if i < 6 else first) for i in range(20)]
    b = [outcome(f"q{i}", ["Alpha"], third if 6 <= i < 10 else first) for i in range(20)]
    scores = paired_scores(a, b, n_resamples=FEW)
    assert scores["hit@1"].delta == pytest.approx(2 / 20)
    assert scores["hit@1"].p_value > 0.5


def test_few_questions_get_the_exact_test() -> None:
    # 5 questions, all better: 2 of the 2**5 swaps are as extreme (all one way or the
    # other), p = 1/16 whatever the number of resamples or the seed.
    for n_resamples, seed in ((FEW, 1), (9999, 7)):
        assert paired_p_value([0.0] * 5, [1.0] * 5, n_resamples, seed) == pytest.approx(1 / 16)
    assert paired_p_value([], []) == 1.0
    assert paired_p_value([0.5, 1.0], [0.5, 1.0]) == 1.0


def test_p_values_are_probabilities_and_repeatable() -> None:
    a = [float(i % 3 == 0) for i in range(40)]
    b = [float(i % 2 == 0) for i in range(40)]
    p = paired_p_value(a, b, FEW, seed=3)
    assert 0.0 <= p <= 1.0
    assert paired_p_value(a, b, FEW, seed=3) == p  # a fixed seed: the same p every run
    assert paired_p_value(b, a, FEW, seed=3) == p  # two-sided


def test_comparison_is_per_language() -> None:
    a = summarise([outcome("x", ["Alpha"], [A]), outcome("y", ["Beta"], [A, B], "zh")])
    b = summarise([outcome("x", ["Alpha"], [B, A]), outcome("y", ["Beta"], [B], "zh")])
    comparison = compare_reports(("a", "b"), a, b, n_resamples=FEW)
    assert comparison.counts == {"en": 1, "zh": 1, "all": 2}
    assert comparison.table["en"]["hit@1"].delta == -1.0
    assert comparison.table["zh"]["mrr@10"].a == 0.5
    assert comparison.table["zh"]["mrr@10"].b == 1.0
    # one question per language: a swap either way is as extreme, nothing is significant
    assert comparison.table["en"]["hit@1"].p_value == 1.0
    assert all(0.0 <= c.p_value <= 1.0 for rows in comparison.table.values() for c in rows.values())
    data = comparison.to_json()
    assert "permutation test" in data["test"] and "scipy" in data["test"]
    assert set(data["metrics"]) == {"en", "zh", "all"}


def test_a_language_without_answerable_questions_has_no_table() -> None:
    a = summarise([outcome("x", ["Alpha"], [A]), outcome("off topic", [], [A], "zh")])
    comparison = compare_reports(("a", "b"), a, a, n_resamples=FEW)
    assert comparison.counts["zh"] == 0 and "zh" not in comparison.table
    assert set(comparison.table) == {"en", "all"}


def test_comparison_means_are_the_reports_own_metrics() -> None:
    """One metric implementation: a comparison's means are qa.eval.evaluate's, per language."""
    tops = [[A], [B, A], [C, B, A], [B, C], [A, C], [C]]
    a = summarise(
        [
            outcome(
                f"q{i}", ["Alpha", "Beta"] if i % 2 else ["Alpha"], top, "en" if i < 4 else "zh"
            )
            for i, top in enumerate(tops)
        ]
        + [outcome("off topic", [], [A])]
    )
    b = summarise(
        [
            outcome(
                f"q{i}", ["Alpha", "Beta"] if i % 2 else ["Alpha"], top, "en" if i < 4 else "zh"
            )
            for i, top in enumerate(reversed(tops))
        ]
        + [outcome("off topic", [], [B])]
    )
    comparison = compare_reports(("a", "b"), a, b, n_resamples=FEW)
    for lang, rows in comparison.table.items():
        for metric, c in rows.items():
            assert c.a == pytest.approx(a.groups[lang][metric]), (lang, metric)
            assert c.b == pytest.approx(b.groups[lang][metric]), (lang, metric)


def test_nothing_loads_ranx() -> None:
    """ranx (numba, llvmlite) is gone: the workbench, its reports and a test run without it."""
    code = (
        "import sys, qa.eval.workbench, qa.eval.report, qa.eval.evaluate\n"
        "qa.eval.workbench.paired_p_value([0.0, 1.0, 1.0], [1.0, 1.0, 0.0], 99)\n"
        "loaded = sorted(m for m in ('ranx', 'numba', 'llvmlite') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    root = Path(__file__).parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=root, env=env)
    package = root / "qa"
    mentions = [p.name for p in package.rglob("*.py") if "ranx" in p.read_text(encoding="utf-8")]
    assert not mentions


def test_diff_against_a_crafted_baseline() -> None:
    now = summarise(
        [
            outcome("moved up", ["Alpha"], [A, B]),
            outcome("moved down", ["Alpha"], [B, C, A]),
            outcome("lost", ["Gamma"], [A, B]),
            outcome("same", ["Beta"], [B]),
        ]
    )
    baseline = {
        "metrics": {
            "all": {m: 0.5 for m in now.groups["all"]},
            "en": {m: 0.5 for m in now.groups["en"]},
        },
        "questions": [
            {"question": "moved up", "relevant": ["Alpha"], "rank": 4},
            {"question": "moved down", "relevant": ["Alpha"], "rank": 1},
            {"question": "lost", "relevant": ["Gamma"], "rank": 2},
            {"question": "same", "relevant": ["Beta"], "rank": 1},
            {"question": "dropped from the set", "relevant": ["Beta"], "rank": 1},
        ],
    }
    diff = diff_against(now, baseline)
    assert [(c.question, c.before, c.after, c.ranks_moved) for c in diff.better] == [
        ("moved up", 4, 1, 3)
    ]
    assert [(c.question, c.before, c.after, c.ranks_moved) for c in diff.worse] == [
        ("lost", 2, None, -9),
        ("moved down", 1, 3, -2),
    ]
    assert diff.missing == 1
    assert diff.metric_deltas["all"]["hit@1"] == pytest.approx(0.5 - 0.5)


def test_coverage_lists_unretrieved_sections_and_boilerplate() -> None:
    class FakeIndex:
        chunks: ClassVar[list[Chunk]] = [
            chunk("Alpha", "a.md", 1),
            chunk("Beta", "a.md", 10),
            chunk("Summary", "a.md", 30),
            chunk("Summary", "b.md", 1),
            chunk("Summary", "c.md", 5),
            chunk("Empty", "a.md", 40, answered=False),
        ]

    report = summarise([outcome("q", ["Alpha"], [FakeIndex.chunks[0]])])
    cov = coverage(report, FakeIndex())  # type: ignore[arg-type]
    assert cov.sections == 5
    assert [(f, n) for f, n, _ in cov.unretrieved] == [
        ("a.md", 10),
        ("a.md", 30),
        ("b.md", 1),
        ("c.md", 5),
    ]
    assert cov.repeated == [("summary", 3, ["a.md", "b.md", "c.md"])]


def test_png_is_a_valid_image_of_the_expected_size(tmp_path: Path) -> None:
    report = summarise([outcome("x", ["Alpha"], [A]), outcome("y", ["Beta"], [A, B], "zh")])
    path = tmp_path / "chart.png"
    write_png(path, {"bm25": report, "fused": report})
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == PNG_SIZE


def test_presets_from_qa_toml(tmp_path: Path) -> None:
    (tmp_path / "qa.toml").write_text(
        '[settings.heavy]\nmodels = ["minilm"]\nweights = { minilm = 3.0 }\nfusion = "rrf"\n'
    )
    presets = load_presets(tmp_path)
    heavy = get_preset("heavy", presets)
    assert heavy.models == ("minilm",) and heavy.fusion == "rrf"
    assert heavy.weight("minilm") == 3.0 and heavy.weight("bm25") == 1.0
    with pytest.raises(UnknownNameError, match="choose one of: bm25, bm25\\+minilm, default"):
        get_preset("nope", presets)
    (tmp_path / "qa.toml").write_text("[settings.bad]\ncolour = 'red'\n")
    with pytest.raises(PresetError, match=r"unknown keys \['colour'\]"):
        load_presets(tmp_path)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    shutil.copytree(SMALL, folder)
    (folder / "qa.toml").write_text(
        '[settings.fake]\nmodels = ["fake"]\n\n[settings.fake-words]\nmodels = []\n'
    )
    return folder


def run(small: Path, *args: str):
    index = str(small.parent / "index")
    return CliRunner().invoke(
        main, ["eval", "--corpus", str(small), "--index", index, *args], catch_exceptions=False
    )


def test_eval_compare_from_the_command_line(small: Path) -> None:
    result = run(small, "--compare", "fake-words", "fake", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["a"], data["b"]) == ("fake-words", "fake")
    assert set(data["metrics"]) == {"en", "zh", "all"}
    assert 0.0 <= data["metrics"]["all"]["hit@1"]["p_value"] <= 1.0
    assert "permutation test" in data["test"]


def test_save_baseline_then_against(small: Path) -> None:
    assert run(small, "--settings", "fake", "--save-baseline", "before").exit_code == 0
    saved = small / "baselines" / "before.json"
    data = json.loads(saved.read_text())
    assert len(data["questions"]) == 4
    result = run(small, "--settings", "fake-words", "--against", "before", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["against"]["name"] == "before"
    missing = run(small, "--against", "never-saved")
    assert missing.exit_code == 1
    assert "save one first with `qa eval --save-baseline NAME`" in missing.stderr


def test_markdown_and_png_reports(small: Path, tmp_path: Path) -> None:
    md, png = tmp_path / "r.md", tmp_path / "r.png"
    result = run(
        small, "--settings", "fake", "--markdown", str(md), "--png", str(png), "--coverage"
    )
    assert result.exit_code == 0, result.output
    text = md.read_text()
    assert text.startswith("# qa eval\n") and "| English |" in text
    assert "## By channel" in text and "| fake |" in text
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "Sections no labelled question retrieves in its top ten" in result.stdout


def test_failure_browser_shows_expected_and_first() -> None:
    import asyncio

    asyncio.run(_browse_failures())


async def _browse_failures() -> None:
    from textual.widgets import ListView, Markdown

    from qa.tui.failures import FailureBrowser

    report = summarise(
        [
            outcome("where is beta", ["Beta"], [A, B]),
            outcome("alpha please", ["Alpha"], [A]),
            outcome("gamma?", ["Gamma"], [A, B]),
        ]
    )
    app = FailureBrowser(report, [A, B, C])
    async with app.run_test() as pilot:
        await pilot.pause()
        assert len(app.query_one(ListView).children) == 2  # the hit is not a failure
        evidence = app.query_one("#evidence", Markdown)
        assert "## where is beta" in evidence.source
        assert "relevant passage at **rank 2**" in evidence.source
        assert "n.md:10 — Notes › Beta" in evidence.source
        await pilot.press("j")
        await pilot.pause()
        assert "## gamma?" in evidence.source
        assert "not in the top ten" in evidence.source


def test_settings_default_in_qa_toml_drives_every_command(small: Path) -> None:
    """`[settings.default]` in the notes folder changes what `qa build` and `qa ask` use."""
    (small / "qa.toml").write_text('[settings.default]\nmodels = ["fake"]\n')
    index = small.parent / "index"
    opts = ["--corpus", str(small), "--index", str(index)]
    assert CliRunner().invoke(main, ["build", *opts]).exit_code == 0
    manifest = read_manifest(current_generation(index))
    assert sorted(manifest.channels) == ["bm25", "fake"]
    result = CliRunner().invoke(main, ["ask", "what is dropout", "--json", *opts])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hits"]


def test_qa_toml_may_turn_bm25_off_and_keep_the_default_models(tmp_path: Path) -> None:
    (tmp_path / "qa.toml").write_text("[settings.dense]\nlexical = false\n")
    dense = load_presets(tmp_path)["dense"]
    assert dense.channels == ("minilm", "e5")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('models = "minilm"', "models must be a list of model names"),
        ("weights = { bm25 = -1 }", "weights must be a table of numbers from 0 to 100"),
        ('fusion = "mean"', "fusion must be one of: rrf, weighted"),
        ("lexical = false\nmodels = []", "needs at least one channel"),
        ("window_chars = 5", "window_chars must be a whole number from 100 to 20000, not 5"),
        ('glossary = "yes"', "glossary must be true or false"),
    ],
)
def test_bad_qa_toml_is_one_clear_line(small: Path, table: str, message: str) -> None:
    (small / "qa.toml").write_text(f"[settings.default]\n{table}\n")
    opts = ["--corpus", str(small), "--index", str(small.parent / "index")]
    result = CliRunner().invoke(main, ["ask", "what is dropout", *opts])
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
