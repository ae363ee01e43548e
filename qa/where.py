"""Where qa keeps what belongs to a notes folder: ``qa where`` and ``qa init``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qa.places import cache_root, history_path, state_dir
from qa.presets import CONFIG_FILE
from qa.settings import LOCAL_DIR
from qa.store.notes import CorpusError


@dataclass(frozen=True)
class Places:
    """The paths in use for one notes folder."""

    notes: Path
    index: Path
    cache: Path
    history: Path
    state: Path
    config: Path

    def rows(self) -> list[tuple[str, Path]]:
        return [
            ("notes", self.notes),
            ("index", self.index),
            ("cache", self.cache),
            ("history", self.history),
            ("state", self.state),
            ("config", self.config),
        ]

    def to_json(self) -> dict[str, str | bool]:
        data: dict[str, str | bool] = {name: str(path) for name, path in self.rows()}
        data["config_exists"] = self.config.is_file()
        data["index_exists"] = (self.index / "CURRENT").is_file()
        return data


def places_in_use(corpus: Path, index_dir: Path) -> Places:
    corpus = corpus.resolve()
    return Places(
        notes=corpus,
        index=index_dir,
        cache=cache_root(),
        history=history_path(corpus),
        state=state_dir(corpus),
        config=corpus / CONFIG_FILE,
    )


def init_folder(corpus: Path) -> tuple[Path, bool]:
    """Make ``<corpus>/.qa/`` so the folder's index lives inside it; the folder and
    whether it was made now (False: it was there already)."""
    if not corpus.is_dir():
        raise CorpusError(f"notes folder not found: {corpus}")
    local = corpus / LOCAL_DIR
    if local.is_dir():
        return local, False
    local.mkdir()
    # An index is rebuilt from the notes: keep it out of the repository they may be in.
    (local / ".gitignore").write_text("# made by qa init: the index is rebuilt from the notes\n*\n")
    return local, True
