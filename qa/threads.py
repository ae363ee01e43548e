"""Thread counts for small machines.

torch, FAISS (OpenMP) and BLAS each start a pool as large as the machine by default;
on two cores, three such pools oversubscribe and slow each other down. We size torch
to the cores we may use, keep FAISS single-threaded (its searches here are small), and
cap BLAS/OpenMP through the environment before the libraries start.
"""

from __future__ import annotations

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
    """Cap OpenMP/BLAS pools; must run before numpy, faiss or torch are imported."""
    n = str(cpu_threads())
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, n)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@lru_cache(maxsize=1)
def configure_torch() -> None:
    import torch

    torch.set_num_threads(cpu_threads())
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once this process started a parallel region
        pass


@lru_cache(maxsize=1)
def configure_faiss() -> None:
    import faiss

    faiss.omp_set_num_threads(1)
