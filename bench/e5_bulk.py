"""e5's two build paths: ORT 4-bit one text per call, and torch bfloat16 padded batches.

    python bench/e5_bulk.py [--sample 240] [--batches 4:640,16:640,32:1024]

On a random sample of the passages and sentence units that a full build of the mixed
case (bench/build_time.py --case mixed) gives e5, it times:

- ``one thread``: CPU µs per token (tokens with <s> and </s> of each window) of ORT one
  text per call, and of ``qa.models.e5_bulk`` with each ``BATCH:BATCH_TOKENS`` batching;
- ``two cores``: wall and process CPU s of the whole sample as a build runs it, ORT
  (``engine.embed_texts``, a text per call on each core) against the bulk runner on two
  Python threads with torch on one thread each (and, with ``--two-torch-threads``, on
  one Python thread with torch on two: measured 1.6-28x slower, at load 2.6-11);
- the cosine of each bulk vector to ORT's (min and mean).

Writes bench/results/e5_bulk.json; the load average is recorded beside it.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import save
from engine_profile import mixed_texts, thread_cpu


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(
    kind: str, texts: list[str], batchings: list[tuple[int, int]], two_torch_threads: bool
) -> dict[str, Any]:
    import torch

    from qa.models import e5_bulk
    from qa.models.e5_onnx import E5Onnx
    from qa.models.engine import embed_texts

    e5 = E5Onnx()
    bulk = e5_bulk.E5Bulk(e5)
    window = e5.max_pos - 2

    def windows(text: str) -> list[tuple[list[int], int]]:
        ids = e5.token_ids(text, "passage: ")
        parts = [ids[s : s + window] for s in range(0, max(len(ids), 1), window)]
        return [([e5.bos, *p, e5.eos], max(len(p), 1)) for p in parts]

    windows_of = [windows(t) for t in texts]
    tokens = sum(len(ids) for parts in windows_of for ids, _ in parts)
    row: dict[str, Any] = {"texts": len(texts), "tokens_per_text": round(tokens / len(texts), 1)}
    by_text = dict(zip(texts, windows_of, strict=True))

    e5.run(windows_of[0][0][0])  # the first call allocates
    started = thread_cpu()
    reference = embed_texts(texts, by_text.__getitem__, e5.run, e5.hidden, parallel=False)
    row["ort us/token, 1 thread"] = round(1e6 * (thread_cpu() - started) / tokens)

    torch.set_num_threads(1)
    bulk.embed(windows_of[:8])  # warm up oneDNN's kernels
    for batch, budget in batchings:
        e5_bulk.BATCH, e5_bulk.BATCH_TOKENS = batch, budget
        started = thread_cpu()
        got = bulk.embed(windows_of, threads=1)
        spent = thread_cpu() - started
        cos = (got * reference).sum(1)
        row[f"bulk {batch}:{budget} us/token, 1 thread"] = round(1e6 * spent / tokens)
        row[f"bulk {batch}:{budget} cosine min/mean"] = [
            round(float(cos.min()), 6),
            round(float(cos.mean()), 6),
        ]
    e5_bulk.BATCH, e5_bulk.BATCH_TOKENS = batchings[0]

    def timed(run: Any) -> dict[str, float]:
        wall, cpu = time.perf_counter(), process_cpu()
        run()
        wall, cpu = time.perf_counter() - wall, process_cpu() - cpu
        return {
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "wall_us_per_token": round(1e6 * wall / tokens),
        }

    row["two cores: ort"] = timed(
        lambda: embed_texts(texts, by_text.__getitem__, e5.run, e5.hidden, parallel=True)
    )
    row["two cores: bulk, 2 python threads x 1 torch thread"] = timed(
        lambda: bulk.embed(windows_of, threads=2)
    )
    if two_torch_threads:
        torch.set_num_threads(2)
        row["two cores: bulk, 1 python thread x 2 torch threads"] = timed(
            lambda: bulk.embed(windows_of, threads=1)
        )
    print(f"{kind}: {row}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=240, help="texts of each kind")
    parser.add_argument("--batches", default="16:640,4:640,32:1024,1:100000")
    parser.add_argument(
        "--two-torch-threads",
        action="store_true",
        help="also time one Python thread with torch on two (slow here: 1.6-28x)",
    )
    args = parser.parse_args()
    batchings = [tuple(map(int, b.split(":"))) for b in args.batches.split(",")]
    load_before = os.getloadavg()
    texts = mixed_texts()
    rng = random.Random(0)
    result: dict[str, Any] = {}
    for kind in ("e5 passages", "e5 units"):
        chosen = rng.sample(texts[kind], min(args.sample, len(texts[kind])))
        result[kind] = measure(kind, chosen, batchings, args.two_torch_threads)  # type: ignore[arg-type]
    result["load_before"] = load_before
    result["load_after"] = os.getloadavg()
    print(f"load {load_before[0]:.2f} → {result['load_after'][0]:.2f}")
    print(f"wrote {save('e5_bulk', result)}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
