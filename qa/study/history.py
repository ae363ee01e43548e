"""The questions asked about one notes folder: one JSON object per line, private (0600).

The chat app walks back through them with ↑/↓; ``qa gaps`` reads the ones the notes
declined. A line that cannot be read is skipped, never fatal: history is a convenience,
and a question is never lost or refused because of it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from qa.files import write_atomic

LIMIT = 2000  # entries kept; older ones are dropped when the file is rewritten


@dataclass(frozen=True)
class Asked:
    question: str
    at: float  # seconds since the epoch
    source: str  # "chat" or "ask"
    declined: bool | None = None  # None: not known (asked before an answer came)
    best: str | None = None  # "path:line" of the first hit, when there was one
    hits: list[str] | None = None  # "path:line" of the top hits, best first (qa open N)


def read(path: Path) -> list[Asked]:
    """Every readable entry, oldest first."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    entries = []
    for line in lines:
        entry = _parse(line)
        if entry is not None:
            entries.append(entry)
    return entries


def questions(path: Path, limit: int = 500) -> list[str]:
    """The last ``limit`` questions, oldest first, without immediate repeats."""
    out: list[str] = []
    for entry in read(path):
        if not out or out[-1] != entry.question:
            out.append(entry.question)
    return out[-limit:]


def record(path: Path, entry: Asked) -> None:
    """Append ``entry``; rewrite the file without the oldest entries past ``LIMIT``.

    Never raises: a full disk or a read-only home must not stop a question."""
    line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=2):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(fd, 0o600)  # also for a file an older qa wrote with the umask's mode
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(line)
            if path.stat().st_size > LIMIT * 400:  # cheap check before counting lines
                _trim(path)
    except (OSError, Timeout):
        pass


def now() -> float:
    return time.time()


def _trim(path: Path) -> None:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) <= LIMIT:
        return
    write_atomic(path, "\n".join(lines[-LIMIT:]) + "\n", mode=0o600)


def _parse(line: str) -> Asked | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("question"), str):
        return None
    at = data.get("at")
    declined = data.get("declined")
    best = data.get("best")
    hits = data.get("hits")
    return Asked(
        question=data["question"],
        at=float(at) if isinstance(at, int | float) else 0.0,
        source=str(data.get("source", "")),
        declined=declined if isinstance(declined, bool) else None,
        best=best if isinstance(best, str) else None,
        hits=hits if isinstance(hits, list) and all(isinstance(h, str) for h in hits) else None,
    )


def last(path: Path) -> Asked | None:
    """The latest question asked (``qa open N`` opens its hits), or None."""
    entries = read(path)
    return entries[-1] if entries else None


def asked(question: str, source: str, answer: Any = None) -> Asked:
    """The entry for ``question`` asked now from ``source`` ("chat" or "ask"), with whether
    the notes declined it and where its hits are, once ``answer`` is known."""
    if answer is None:
        return Asked(question, now(), source)
    places = hit_places(answer)
    return Asked(
        question,
        now(),
        source,
        declined=answer.declined or not answer.hits,
        best=places[0] if places else None,
        hits=places,
    )


def hit_places(answer: Any, limit: int = 10) -> list[str]:
    """``path:line`` of an answer's top hits, best first, as ``Asked.hits`` keeps them."""
    return [f"{h.chunk.location.file}:{h.chunk.location.start_line}" for h in answer.hits[:limit]]
