"""Named settings, for comparing retrieval set-ups with ``qa eval --compare A B``.

Built-in names cover each channel alone and the main alternatives; a ``qa.toml`` in the
notes folder adds more::

    [settings.e5-heavy]
    models = ["minilm", "e5"]
    fusion = "weighted"
    weights = { bm25 = 1.0, minilm = 0.5, e5 = 2.0 }

Any field of ``qa.settings.Settings`` may be given; the rest keep their defaults.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from qa.encoders import UnknownNameError
from qa.settings import Settings

CONFIG_FILE = "qa.toml"

_BASE = Settings()

BUILTIN: dict[str, Settings] = {
    "default": _BASE,
    "bm25": replace(_BASE, models=()),
    "minilm": replace(_BASE, models=("minilm",), lexical=False),
    "e5": replace(_BASE, models=("e5",), lexical=False),
    "bm25+minilm": replace(_BASE, models=("minilm",)),
    "rrf": replace(_BASE, fusion="rrf"),
    "no-glossary": replace(_BASE, glossary=False),
}


class PresetError(ValueError):
    """A ``qa.toml`` that cannot be used; the message names the problem."""


def load_presets(corpus: Path | None) -> dict[str, Settings]:
    """Built-in presets plus those of ``<corpus>/qa.toml``."""
    presets = dict(BUILTIN)
    path = Path(corpus) / CONFIG_FILE if corpus is not None else None
    if path is None or not path.is_file():
        return presets
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise PresetError(f"{path}: {err}") from None
    known = {f.name for f in fields(Settings)}
    for name, table in data.get("settings", {}).items():
        if not isinstance(table, dict):
            raise PresetError(f"{path}: [settings.{name}] must be a table")
        unknown = set(table) - known
        if unknown:
            raise PresetError(
                f"{path}: [settings.{name}] has unknown keys {sorted(unknown)}; "
                f"valid keys: {', '.join(sorted(known))}"
            )
        presets[name] = _from_table(table)
    return presets


def _from_table(table: dict[str, Any]) -> Settings:
    values = dict(table)
    if "models" in values:
        values["models"] = tuple(values["models"])
    if "weights" in values:
        values["weights"] = {**_BASE.weights, **values["weights"]}
    return replace(_BASE, **values)


def get_preset(name: str, presets: dict[str, Settings]) -> Settings:
    try:
        return presets[name]
    except KeyError:
        valid = ", ".join(sorted(presets))
        raise UnknownNameError(f"unknown settings {name!r}; choose one of: {valid}") from None
