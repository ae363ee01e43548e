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
    # Each channel alone: no second stage either.
    "bm25": replace(_BASE, models=(), rerank="none"),
    "minilm": replace(_BASE, models=("minilm",), lexical=False, rerank="none"),
    "e5": replace(_BASE, models=("e5",), lexical=False, rerank="none"),
    "bm25+minilm": replace(_BASE, models=("minilm",)),
    "rrf": replace(_BASE, fusion="rrf"),
    "no-glossary": replace(_BASE, glossary=False),
    "no-coverage": replace(_BASE, coverage_weight=0.0),
    "listed-scores": replace(_BASE, exact_scores=False),
    "no-dictionary": replace(_BASE, dictionary=False),
    "no-rerank": replace(_BASE, rerank="none"),
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
        problem = _check_types(table)
        if problem:
            raise PresetError(f"{path}: [settings.{name}] {problem}")
        presets[name] = _from_table(table)
    return presets


def _check_types(table: dict[str, Any]) -> str | None:
    """What is wrong with the values of a settings table, or None."""
    from qa.fusion import FUSIONS

    models = table.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        return 'models must be a list of model names, e.g. models = ["minilm"]'
    if "models" in table and not models and table.get("lexical", True) is False:
        return "needs at least one channel: lexical is off and models is empty"
    weights = table.get("weights", {})
    if not isinstance(weights, dict) or not all(
        isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in weights.values()
    ):
        return "weights must be a table of numbers >= 0, e.g. weights = { bm25 = 1.0 }"
    if table.get("rerank", "linear") not in ("none", "linear"):
        return 'rerank must be "linear" or "none"'
    if table.get("fusion", "weighted") not in FUSIONS:
        return f"fusion must be one of: {', '.join(sorted(FUSIONS))}"
    for key in ("lexical", "glossary", "group_windows", "exact_scores", "dictionary"):
        if not isinstance(table.get(key, True), bool):
            return f"{key} must be true or false"
    for key, low in (("rrf_k", 1), ("window_chars", 100)):
        value = table.get(key, low)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            return f"{key} must be a whole number >= {low}"
    for key in ("expansion_weight", "coverage_weight"):
        value = table.get(key, 0.0)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            return f"{key} must be a number >= 0"
    return None


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
