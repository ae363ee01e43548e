"""Each dense model loaded once per process, shared by every build and search.

A model takes a second or more to load and hundreds of MB to hold, so the chat app's
rebuild, ``qa serve``'s reload and a benchmark comparing settings all take theirs from
here instead of loading a copy of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from qa.models.encoders import ENCODERS, Encoder, get_encoder


class ModelPool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # name -> (the registry factory it came from, the encoder)
        self._models: dict[str, tuple[Callable[[], Encoder] | None, Encoder]] = {}

    def get(self, name: str) -> Encoder:
        """The encoder called ``name``, loaded on first use (see ``get_encoder``)."""
        factory = ENCODERS.get(name)
        with self._lock:
            held = self._models.get(name)
            # A name registered again (tests do) is a different model: load the new one.
            if held is None or held[0] is not factory:
                held = (factory, get_encoder(name))
                self._models[name] = held
            return held[1]

    def loaded(self) -> dict[str, Encoder]:
        with self._lock:
            return {name: enc for name, (_, enc) in self._models.items()}

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


POOL = ModelPool()  # the process's pool; pass another one to keep models apart
