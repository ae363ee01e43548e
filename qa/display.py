"""Text from notes, file names and question files, made safe to show on a terminal.

Notes are written by whoever wrote the notes folder, which may be someone else: an
escape sequence in a heading, a passage or a file name could otherwise set the window
title, write the clipboard (OSC 52), draw over the screen or ask the terminal to type
an answer back (``ESC[6n``). Everything qa shows goes through ``safe_text`` first —
the CLI, warnings, evaluation reports, the TUI's widgets — and everything it prints as
JSON through ``json_text``.
"""

from __future__ import annotations

import json
from typing import Any

_C1 = range(0x80, 0xA0)


def _table(one_line: bool) -> dict[int, str]:
    # C0 controls become their Unicode "control pictures" (ESC is ␛, so ESC[2J shows as
    # ␛[2J and does nothing); DEL is ␡; C1 controls, which some terminals obey like ESC
    # sequences (U+009B is CSI), are written out as \x9b.
    table = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}
    table[0x7F] = "\u2421"
    table.update({c: f"\\x{c:02x}" for c in _C1})
    if one_line:
        table[0x0A] = "\u240a"
    return table


_MULTI_LINE = _table(one_line=False)
_ONE_LINE = _table(one_line=True)
_JSON_EXTRA = {c: f"\\u{c:04x}" for c in (0x7F, *_C1)}


def safe_text(text: str, one_line: bool = False) -> str:
    """``text`` with every control character but tab and newline made visible and inert.

    With ``one_line``, newlines are shown as ␊ too (for file names and one-line messages).
    Printable text, Chinese included, is left exactly as it is.
    """
    return str(text).translate(_ONE_LINE if one_line else _MULTI_LINE)


def json_text(data: Any, indent: int | None = None) -> str:
    """``data`` as JSON, non-ASCII text kept readable, with no raw control character.

    ``json.dumps`` escapes C0 controls itself; DEL and C1 controls (U+0080–U+009F) are
    escaped here too. They can only occur inside JSON strings, so the result stays valid
    JSON and decodes to the same value.
    """
    return json.dumps(data, ensure_ascii=False, indent=indent).translate(_JSON_EXTRA)
