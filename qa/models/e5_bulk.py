"""multilingual-e5-small for a build's bulk: torch in bfloat16, length-sorted padded batches.

A build embeds thousands of passages and sentence units with e5; ONNX Runtime's 4-bit
``MatMulNBits`` (``qa.models.e5_onnx``) costs ~405 CPU µs per token there, one text per
call. On a CPU that multiplies bfloat16 natively (AMX tiles or AVX-512 BF16), torch runs
the same 12 layers from the same 4-bit weights, dequantized once to bfloat16 (LayerNorm,
residuals and pooling in float32, erf GELU, one fused QKV product, masked
scaled-dot-product attention), at ~150 µs per token on length-sorted batches of a few
texts. Its vectors match ORT's at cosine > 0.9999 (``tests/test_e5_bulk.py`` holds them to
0.9995), as close as an exact float32 computation of those weights, so texts embedded by
either path meet in one index under one model id.

Which path a call takes (``E5Onnx.embed``):

- questions (``embed_queries``) and any call with fewer than ``BULK_MIN_CHARS`` characters
  of text: ORT, as before (a question never imports torch: it takes ~1-2 s);
- a build's larger calls (passages, sentence units): this module, when torch is installed
  and reports native bfloat16 matmuls (``native_bf16``); otherwise ORT.

The tokenizer, the embedding layer and the weights are ``E5Onnx``'s own; texts past 510
tokens are cut into the same windows and averaged by length in the same way.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.models.onnx_bert import dequantize_rows

if TYPE_CHECKING:
    from qa.models.e5_onnx import E5Onnx
    from qa.models.engine import Windows

# A call with this many characters (>= ~10,000 tokens of English, more of Chinese) saves
# more than the ~1.5 s that importing torch and expanding the weights cost.
BULK_MIN_CHARS = 40_000
# A batch holds texts of similar length: at most BATCH texts, and padded to at most
# BATCH_TOKENS positions unless it is one text (measured best on this machine, see
# bench/e5_bulk.py: ~4 passages or ~16 sentence units).
BATCH = 16
BATCH_TOKENS = 640
ROWS = 64  # the dense layers' row counts are multiples of this


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether torch is installed and this CPU multiplies bfloat16 natively (AMX tiles or
    AVX-512 BF16); without either, bfloat16 is emulated and slower than ORT."""
    try:
        import torch.cpu
    except ImportError:
        return False
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # private probes renamed in some torch version: stay with ORT
        return False


def batches(lengths: Sequence[int]) -> list[list[int]]:
    """Indices of ``lengths`` in batches of similar length, longest first (so that no
    worker is left with a long batch at the end): at most ``BATCH`` items, padded to at
    most ``BATCH_TOKENS`` positions (a longer item runs alone)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    out: list[list[int]] = []
    for i in order:
        if (
            out
            and len(out[-1]) < BATCH
            and lengths[out[-1][0]] * (len(out[-1]) + 1) <= BATCH_TOKENS
        ):
            out[-1].append(i)
        else:
            out.append([i])
    return out


class E5Bulk:
    """``E5Onnx``'s encoder layers in torch bfloat16, run on padded batches of windows."""

    def __init__(self, e5: E5Onnx):
        import torch

        self.e5 = e5
        self.torch = torch
        hidden, ffn, tensors = e5.hidden, e5.ffn, e5.tensors
        shapes = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden)}
        shapes |= {"ao": (hidden, hidden), "fi": (hidden, ffn), "fo": (ffn, hidden)}

        def weight(name: str, n_in: int, n_out: int) -> Any:
            rows = dequantize_rows(tensors[name].reshape(n_out, -1), n_in)  # [out, in]
            return torch.from_numpy(np.ascontiguousarray(rows.T)).to(torch.bfloat16)

        def f32(name: str) -> Any:
            return torch.from_numpy(np.array(tensors[name], dtype=np.float32))

        self.layers: list[dict[str, Any]] = []
        for i in range(e5.layers):
            w = {p: weight(f"l{i}.{p}.w", *shape) for p, shape in shapes.items()}
            b = {p: f32(f"l{i}.{p}.b").to(torch.bfloat16) for p in shapes}
            self.layers.append(
                {
                    "qkv": (
                        torch.cat([w["q"], w["k"], w["v"]], 1),
                        torch.cat([b[p] for p in "qkv"]),
                    ),
                    **{p: (w[p], b[p]) for p in ("ao", "fi", "fo")},
                    **{p: (f32(f"l{i}.{p}.w"), f32(f"l{i}.{p}.b")) for p in ("aln", "oln")},
                }
            )

    def run(self, windows: Sequence[list[int]]) -> np.ndarray:
        """The mean of the last layer's states [windows, hidden] for each window's ids
        (with <s> and </s>), run as one batch.

        The dense layers read the batch's tokens packed (no padding), their count rounded
        up to a multiple of ``ROWS``: oneDNN makes (and caches, with its buffers) a kernel
        per matrix shape, so a few shapes keep both the time and the memory down.
        Attention reads them padded to the longest window, masked."""
        torch, e5 = self.torch, self.e5
        functional = torch.nn.functional
        n, width, hidden, heads = len(windows), max(map(len, windows)), e5.hidden, e5.heads
        lengths = [len(ids) for ids in windows]
        tokens = sum(lengths)
        rows = -(-tokens // ROWS) * ROWS
        x = np.zeros((rows, hidden), dtype=np.float32)
        x[:tokens] = np.concatenate([e5._embedded(ids) for ids in windows])
        keep = np.arange(width)[None, :] < np.array(lengths)[:, None]  # [batch, width]
        with torch.inference_mode():
            states = torch.from_numpy(x)
            places = torch.from_numpy(np.flatnonzero(keep))  # each token's padded position
            attend = torch.from_numpy(keep)[:, None, None, :]  # [batch, 1, 1 (queries), keys]
            for layer in self.layers:
                qkv = torch.addmm(layer["qkv"][1], states.to(torch.bfloat16), layer["qkv"][0])
                padded = qkv.new_zeros(n * width, 3 * hidden)
                padded[places] = qkv[:tokens]
                q, k, v = padded.view(n, width, 3, heads, -1).permute(2, 0, 3, 1, 4)
                ctx = functional.scaled_dot_product_attention(q, k, v, attn_mask=attend)
                ctx = ctx.transpose(1, 2).reshape(n * width, hidden)[places]
                ctx = functional.pad(ctx, (0, 0, 0, rows - tokens))
                out = torch.addmm(layer["ao"][1], ctx, layer["ao"][0]).float()
                states = functional.layer_norm(states + out, (hidden,), *layer["aln"], e5.eps)
                mid = torch.addmm(layer["fi"][1], states.to(torch.bfloat16), layer["fi"][0])
                out = torch.addmm(layer["fo"][1], functional.gelu(mid), layer["fo"][0]).float()
                states = functional.layer_norm(states + out, (hidden,), *layer["oln"], e5.eps)
            window_of = torch.repeat_interleave(torch.arange(n), torch.tensor(lengths))
            sums = torch.zeros(n, hidden).index_add_(0, window_of, states[:tokens])
            pooled = sums / torch.tensor(lengths, dtype=torch.float32)[:, None]
        return np.asarray(pooled.numpy(), dtype=np.float32)

    def embed(
        self,
        windows_of: Sequence[Windows],
        progress: Callable[[int], None] | None = None,
        threads: int = 1,
    ) -> np.ndarray:
        """Each text's L2-normalised vector [texts, hidden] from its windows (as
        ``engine.embed_texts`` averages them: by weight, in float64). With ``threads`` > 1,
        batches run on that many Python threads at once, torch on one thread each (its
        ops release the GIL: one thread pads while another multiplies); ``progress``
        hears of each text when its last window is done."""
        torch = self.torch
        flat = [(t, ids, w) for t, parts in enumerate(windows_of) for ids, w in parts]
        left = [len(parts) for parts in windows_of]
        total = np.zeros((len(windows_of), self.e5.hidden), dtype=np.float64)
        weight = np.array([max(sum(w for _, w in parts), 1) for parts in windows_of], np.float64)
        lock = threading.Lock()

        def one(batch: list[int]) -> None:
            pooled = self.run([flat[j][1] for j in batch])
            with lock:
                done = 0
                for j, row in zip(batch, pooled, strict=True):
                    t, _, w = flat[j]
                    total[t] += w * row.astype(np.float64)
                    left[t] -= 1
                    done += left[t] == 0
                if progress and done:
                    progress(done)

        plan = batches([len(ids) for _, ids, _ in flat])
        before = torch.get_num_threads()
        torch.set_num_threads(1 if threads > 1 else before)
        try:
            if threads > 1 and len(plan) > 1:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(one, plan))
            else:
                for batch in plan:
                    one(batch)
        finally:
            torch.set_num_threads(before)
        out = total / weight[:, None]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return np.ascontiguousarray((out / norms).astype(np.float32))
