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

import math
import tomllib
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from qa.models.encoders import UnknownNameError
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


# Bounds of every numeric setting: outside them a value is a mistake (or an attack on
# the arithmetic: nan, inf and 1e308 weights make every score nan or overflow).
BOUNDS: dict[str, tuple[float, float]] = {
    "weights": (0.0, 100.0),
    "expansion_weight": (0.0, 10.0),
    "coverage_weight": (0.0, 10.0),
    "rrf_k": (1, 100_000),
    "window_chars": (100, 20_000),
}


def load_presets(corpus: Path | None) -> dict[str, Settings]:
    """Built-in presets plus those of ``<corpus>/qa.toml``.

    Every problem is one line naming the file, the table and the fix.
    """
    presets = dict(BUILTIN)
    path = Path(corpus) / CONFIG_FILE if corpus is not None else None
    if path is None or not path.is_file():
        return presets
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise PresetError(f"{path}: {err}") from None
    except OSError as err:
        raise PresetError(f"{path}: cannot read ({err.strerror})") from None
    tables = data.get("settings", {})
    if not isinstance(tables, dict):
        raise PresetError(
            f"{path}: settings must be a table of [settings.NAME] tables, "
            'e.g. [settings.default] with models = ["minilm"]'
        )
    known = {f.name for f in fields(Settings)}
    for name, table in tables.items():
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


def _number(value: Any, key: str, whole: bool = False) -> str | None:
    """What is wrong with a numeric setting, or None."""
    low, high = BOUNDS[key]
    kinds = int if whole else int | float
    if (
        not isinstance(value, kinds)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        kind = "a whole number" if whole else "a number"
        return f"{kind} from {low:g} to {high:g}, not {value!r:.30}"
    return None


def _check_types(table: dict[str, Any]) -> str | None:
    """What is wrong with the values of a settings table, or None."""
    from qa.models.encoders import ENCODERS
    from qa.retrieve.fusion import FUSIONS

    models = table.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        return 'models must be a list of model names, e.g. models = ["minilm"]'
    for model in models:
        if model not in ENCODERS and "/" not in model and not Path(model).exists():
            return (
                f"models names {model!r}, which is not a model: choose from "
                f"{', '.join(sorted(ENCODERS))}, or give a sentence-transformers model path"
            )
    if "models" in table and not models and table.get("lexical", True) is False:
        return "needs at least one channel: lexical is off and models is empty"
    weights = table.get("weights", {})
    if not isinstance(weights, dict) or any(_number(w, "weights") for w in weights.values()):
        return "weights must be a table of numbers from 0 to 100, e.g. weights = { bm25 = 1.0 }"
    if table.get("rerank", "linear") not in ("none", "linear"):
        return 'rerank must be "linear" or "none"'
    if table.get("fusion", "weighted") not in FUSIONS:
        return f"fusion must be one of: {', '.join(sorted(FUSIONS))}"
    for key in (
        "lexical",
        "glossary",
        "group_windows",
        "exact_scores",
        "dictionary",
        "follow_links",
        "gitignore",
    ):
        if not isinstance(table.get(key, True), bool):
            return f"{key} must be true or false"
    for key in ("include", "exclude"):
        patterns = table.get(key, [])
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            return f'{key} must be a list of patterns, e.g. {key} = ["drafts/"]'
    for key in ("rrf_k", "window_chars"):
        if key in table and (problem := _number(table[key], key, whole=True)):
            return f"{key} must be {problem}"
    for key in ("expansion_weight", "coverage_weight"):
        if key in table and (problem := _number(table[key], key)):
            return f"{key} must be {problem}"
    return None


def _from_table(table: dict[str, Any]) -> Settings:
    values = dict(table)
    for key in ("models", "include", "exclude"):
        if key in values:
            values[key] = tuple(values[key])
    if "weights" in values:
        values["weights"] = {**_BASE.weights, **values["weights"]}
    return replace(_BASE, **values)


def get_preset(name: str, presets: dict[str, Settings]) -> Settings:
    try:
        return presets[name]
    except KeyError:
        valid = ", ".join(sorted(presets))
        raise UnknownNameError(f"unknown settings {name!r}; choose one of: {valid}") from None
