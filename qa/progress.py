"""Progress of long work for a file or a pipe: one line per stage, with counts and time.

On a terminal the CLI draws a bar (rich); a build whose output goes to a log file or a
CI job says instead, once each stage is over, what it did and how long it took::

    qa: reading notes: 1775 of 1775 (2.1 s)
    qa: embedding (minilm): 1773 of 1773 (41.0 s)
"""

from __future__ import annotations

import time
from collections.abc import Callable


class StageLines:
    """A progress callback ``(stage, done, total)`` that writes a line when a stage ends:
    when it reaches its total, when the next stage starts, or at ``close``."""

    def __init__(
        self, write: Callable[[str], None], clock: Callable[[], float] = time.perf_counter
    ):
        self._write = write
        self._clock = clock
        self._stage: str | None = None
        self._started = 0.0
        self._counts = (0, 0)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            self.close()
            self._stage, self._started = stage, self._clock()
        self._counts = (done, total)
        if done >= total:
            self.close()

    def close(self) -> None:
        """Write the line of the stage under way, if any."""
        if self._stage is None:
            return
        done, total = self._counts
        seconds = self._clock() - self._started
        self._write(f"qa: {self._stage}: {done} of {total} ({seconds:.1f} s)")
        self._stage = None
