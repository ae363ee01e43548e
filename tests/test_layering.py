"""Layering: the core (``qa`` minus ``qa.tui``) never imports the TUI, the packages stack
as pyproject.toml's ``layers`` contract says, and the TUI's widgets and screens never
import its App.

The contracts are ``[tool.importlinter]`` in pyproject.toml; these tests run import-linter's
``lint-imports`` on the project, and on a copy with a bad import to show that it notices.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is in the test extras")

ROOT = Path(__file__).parent.parent
LINT = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` in ``project``, on the ``qa`` found there (not an installed one)."""
    env = {**os.environ, "PYTHONPATH": str(project), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", "--no-logo"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_core_never_imports_the_tui() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The package's Python files and pyproject.toml, to break on purpose."""
    for source in (ROOT / "qa").rglob("*.py"):
        target = tmp_path / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    shutil.copyfile(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "bad_import", "message"),
    [
        (
            "eval/evaluate.py",
            "from qa.tui.present import status_reason",
            "qa.eval.evaluate -> qa.tui",
        ),
        ("__init__.py", "import qa.tui.widgets", "qa -> qa.tui.widgets"),
        # the command line may open the TUI and the failure browser, nothing else of it
        ("cli.py", "import qa.tui.widgets", "qa.cli -> qa.tui.widgets"),
        # storage below retrieval
        (
            "store/index.py",
            "from qa.retrieve.search import Searcher",
            "qa.store.index -> qa.retrieve.search",
        ),
        ("models/pool.py", "import qa.library", "qa.models.pool -> qa.library"),
        # text analysis below storage, models below text analysis
        ("lang/text.py", "import qa.store.chunking", "qa.lang.text -> qa.store.chunking"),
        ("models/encoders.py", "import qa.lang.glossary", "qa.models.encoders -> qa.lang.glossary"),
        # the evaluator and the study tools sit below every front end
        ("study/gaps.py", "import qa.serve", "qa.study.gaps -> qa.serve"),
        # widgets, screens and the index controller post messages; they never import the App
        ("tui/section.py", "from qa.tui.app import QAApp", "qa.tui.section -> qa.tui.app"),
        ("tui/widgets.py", "import qa.tui.app", "qa.tui.widgets -> qa.tui.app"),
        ("tui/index_controller.py", "import qa.tui.app", "qa.tui.index_controller -> qa.tui.app"),
    ],
)
def test_a_bad_import_breaks_the_contract(
    copy: Path, module: str, bad_import: str, message: str
) -> None:
    path = copy / "qa" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{bad_import}  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and message in result.stdout, result.stdout
