"""Helpers shared by the benchmark scripts: timing children, machine description."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
QA = [sys.executable, "-m", "qa"]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


def run_child(cmd: list[str], **kwargs: Any) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run a command; return (wall seconds, peak RSS in MB of the child, result).

    Peak RSS comes from wait4() on this one child, so it is the child's own maximum.
    """
    import tempfile

    start = time.perf_counter()
    # Output goes to files, not pipes: a child that writes more than a pipe holds would
    # block forever while we wait4() for it.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, **kwargs)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status)
    result = subprocess.CompletedProcess(cmd, code, stdout, stderr)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}): {stderr.strip()[-500:]}")
    return wall, usage.ru_maxrss / 1024, result


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "n": len(values),
        "p50": pick(0.5),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "mean": statistics.fmean(values),
        "max": ordered[-1],
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, ensure_ascii=False, indent=1) + "\n")
    return path


def self_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
