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
        if out and len(out[-1]) < BATCH and lengths[out[-1][0]] * (len(out[-1]) + 1) <= BATCH_TOKENS:
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
                    "qkv": (torch.cat([w["q"], w["k"], w["v"]], 1), torch.cat([b[p] for p in "qkv"])),
                    **{p: (w[p], b[p]) for p in ("ao", "fi", "fo")},
                    **{p: (f32(f"l{i}.{p}.w"), f32(f"l{i}.{p}.b")) for p in ("aln", "oln")},
                }
            )

    def run(self, windows: Sequence[list[int]]) -> np.ndarray:
        """The mean of the last layer's states [windows, hidden] for each window's ids
        (with <s> and </s>), run as one padded batch."""
        torch, e5 = self.torch, self.e5
        n, width, hidden = len(windows), max(map(len, windows)), e5.hidden
        heads = e5.heads
        x = np.zeros((n, width, hidden), dtype=np.float32)
        mask = np.zeros((n, width), dtype=bool)
        for row, ids in enumerate(windows):
            x[row, : len(ids)] = e5._embedded(ids)
            mask[row, : len(ids)] = True
        with torch.inference_mode():
            states = torch.from_numpy(x)
            keep = torch.from_numpy(mask)
            attend = keep[:, None, None, :]  # [batch, 1, 1 (queries), keys]
            for layer in self.layers:
                h = states.to(torch.bfloat16)
                qkv = (h @ layer["qkv"][0] + layer["qkv"][1]).view(n, width, 3, heads, -1)
                q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [batch, heads, tokens, head dim]
                ctx = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attend)
                ctx = ctx.transpose(1, 2).reshape(n, width, hidden)
                out = (ctx @ layer["ao"][0] + layer["ao"][1]).float()
                states = torch.nn.functional.layer_norm(states + out, (hidden,), *layer["aln"], e5.eps)
                mid = torch.nn.functional.gelu(states.to(torch.bfloat16) @ layer["fi"][0] + layer["fi"][1])
                out = (mid @ layer["fo"][0] + layer["fo"][1]).float()
                states = torch.nn.functional.layer_norm(states + out, (hidden,), *layer["oln"], e5.eps)
            weights = keep.float()[:, :, None]
            pooled = (states * weights).sum(1) / weights.sum(1)
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
