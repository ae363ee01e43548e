"""Reader leases: which index generations a reader may still be reading.

A reader (``Index.load``) takes a lease on the generation it opens: an exclusive lock
on a file of its own under ``<index>/.readers/``, named after the generation, held while
it reads the generation's files. A build, once it has pointed CURRENT at the new
generation, removes every other generation that no lease holds. The lock is the
operating system's (filelock: flock on Unix, msvcrt on Windows), so a reader that dies
holds nothing, and its left-over lease file is removed by the next build.

The order makes it safe: a reader takes the lease *before* it checks that the
generation is still the current one, and a build swaps CURRENT *before* it looks at the
leases. So a build either sees the lease, or the reader sees the new CURRENT and opens
that instead.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

READERS = ".readers"
SUFFIX = ".lease"


def _lock(path: Path) -> FileLock:
    return FileLock(path, is_singleton=False, thread_local=False)


@contextlib.contextmanager
def reader_lease(index_dir: Path, generation: str) -> Iterator[None]:
    """Hold a lease on ``generation`` of ``index_dir`` for the block.

    An index folder the reader cannot write to (a shared, read-only index) gives no
    lease: the read goes ahead, and a build that removes the generation underneath it
    makes ``Index.load`` look again (it retries when CURRENT moved)."""
    folder = Path(index_dir) / READERS
    path = folder / f"{generation}.{os.getpid()}.{secrets.token_hex(4)}{SUFFIX}"
    lock = _lock(path)
    try:
        folder.mkdir(exist_ok=True)
        lock.acquire(timeout=0)
    except (OSError, Timeout):
        yield
        return
    try:
        yield
    finally:
        lock.release()
        with contextlib.suppress(OSError):
            path.unlink()


def held_generations(index_dir: Path) -> set[str]:
    """The generations some live reader holds a lease on. Leases left by readers that
    died are removed on the way."""
    folder = Path(index_dir) / READERS
    held: set[str] = set()
    try:
        paths = list(folder.iterdir())
    except OSError:
        return held
    for path in paths:
        if not path.name.endswith(SUFFIX) or not path.name.startswith("gen-"):
            continue
        generation = path.name.split(".", 1)[0]
        lock = _lock(path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            held.add(generation)
            continue
        except OSError:
            held.add(generation)  # cannot tell: keep it
            continue
        lock.release()
        with contextlib.suppress(OSError):
            path.unlink()
    return held
