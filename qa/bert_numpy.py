"""A BERT sentence encoder in numpy, for embedding questions without torch.

Importing torch and sentence-transformers takes seconds; a question is a dozen tokens,
and a 6-layer MiniLM forward pass over a dozen tokens takes milliseconds in numpy. This
module runs sentence-transformers models of the common shape (BertModel, mean pooling,
optional normalisation) from the same files: ``model.safetensors`` and
``tokenizer.json``. Tests check that it gives the same vectors as sentence-transformers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


class UnsupportedModel(ValueError):
    """The model directory is not a mean-pooled BERT this module can run."""


def supports(model_dir: Path) -> bool:
    """True when ``model_dir`` is a sentence-transformers BERT with mean pooling."""
    try:
        _read_layout(Path(model_dir))
    except (UnsupportedModel, OSError, ValueError, KeyError):
        return False
    return True


def _read_layout(model_dir: Path) -> tuple[dict[str, Any], int, bool]:
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
        raise UnsupportedModel(f"{model_dir} is not a GELU BERT model")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise UnsupportedModel("only absolute position embeddings are supported")
    modules = json.loads((model_dir / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(
        k not in ("Transformer", "Pooling", "Normalize") for k in kinds
    ):
        raise UnsupportedModel(f"unsupported module stack {kinds}")
    pooling_path = model_dir / next(m["path"] for m in modules if m["type"].endswith("Pooling"))
    pooling = json.loads((pooling_path / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens") or any(
        pooling.get(k)
        for k in (
            "pooling_mode_cls_token",
            "pooling_mode_max_tokens",
            "pooling_mode_mean_sqrt_len_tokens",
        )
    ):
        raise UnsupportedModel("only mean pooling is supported")
    if (
        not (model_dir / "model.safetensors").exists()
        or not (model_dir / "tokenizer.json").exists()
    ):
        raise UnsupportedModel("model.safetensors and tokenizer.json are needed")
    st_config = model_dir / "sentence_bert_config.json"
    max_len = (
        json.loads(st_config.read_text()).get("max_seq_length", 512) if st_config.exists() else 512
    )
    return config, int(max_len), "Normalize" in kinds


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to about 1e-7 (Abramowitz & Stegun 7.1.26), enough for float32 GELU."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class NumpyBert:
    """Mean-pooled BERT sentence embeddings, computed with numpy."""

    def __init__(self, model_dir: Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        config, max_len, self.normalize = _read_layout(model_dir)
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_len = min(max_len, int(config["max_position_embeddings"]))
        weights = load_file(str(model_dir / "model.safetensors"))
        self.w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()}
        self.dim = int(config["hidden_size"])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_len)
        # Projections stored transposed and contiguous, so the forward pass is x @ W
        # (on a transposed view, BLAS is about three times slower here); query, key and
        # value are one matrix, so each layer starts with one matmul instead of three.
        self._t = {
            k: np.ascontiguousarray(self.w.pop(k).T)
            for k in list(self.w)
            if k.endswith("dense.weight")
        }
        for i in range(self.layers):
            p = f"encoder.layer.{i}.attention.self."
            parts = [self.w.pop(p + f"{name}.weight").T for name in ("query", "key", "value")]
            self._t[p + "qkv"] = np.ascontiguousarray(np.hstack(parts))
            self.w[p + "qkv.bias"] = np.concatenate(
                [self.w.pop(p + f"{name}.bias") for name in ("query", "key", "value")]
            )
        self._session: Any = None  # the layers in ONNX Runtime, once use_onnx() is called

    def use_onnx(self) -> bool:
        """Run the layers in ONNX Runtime from now on (~3x faster per text; setting it up
        takes ~0.3 s, so a process that embeds one question does not). False when
        onnxruntime is not installed."""
        if self._session is None:
            try:
                from qa.onnx_bert import encoder_session
            except ImportError:
                self._session = False
                return False
            d, w, t = self.dim, self.w, self._t
            layers = []
            for i in range(self.layers):
                p = f"encoder.layer.{i}."
                qkv, qkv_bias = t[p + "attention.self.qkv"], w[p + "attention.self.qkv.bias"]
                layer = {
                    name: (qkv[:, j * d : (j + 1) * d], qkv_bias[j * d : (j + 1) * d])
                    for j, name in enumerate(("q", "k", "v"))
                }
                for name, key in (
                    ("ao", "attention.output"),
                    ("fi", "intermediate"),
                    ("fo", "output"),
                ):
                    layer[name] = (t[p + key + ".dense.weight"], w[p + key + ".dense.bias"])
                for name, key in (("aln", "attention.output"), ("oln", "output")):
                    layer[name] = (w[p + key + ".LayerNorm.weight"], w[p + key + ".LayerNorm.bias"])
                layers.append(layer)
            self._session = encoder_session(layers, self.heads, self.eps)
            self._t = {}  # ONNX Runtime holds its own copy of the layers' matrices (~40 MB)
        return bool(self._session)

    def encode(self, texts: list[str]) -> np.ndarray:
        return (
            np.vstack([self._encode_one(t) for t in texts])
            if texts
            else np.zeros((0, self.dim), dtype=np.float32)
        )

    def _encode_one(self, text: str) -> np.ndarray:
        enc = self.tokenizer.encode(text)
        ids = np.array(enc.ids, dtype=np.int64)
        types = np.array(enc.type_ids, dtype=np.int64)
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: len(ids)]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        if self._session:
            x = self._session.run(None, {"x": x.astype(np.float32)})[0]
        else:
            x = self._layers(x)
        pooled = x.mean(0)
        if self.normalize:
            pooled = pooled / (np.linalg.norm(pooled) or 1.0)
        return pooled.astype(np.float32)[None, :]

    def _layers(self, x: np.ndarray) -> np.ndarray:
        w, t = self.w, self._t  # use_onnx() may drop self._t meanwhile, in another thread
        n, d = x.shape
        h = self.heads
        hd = d // h
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            qkv = x @ t[p + "attention.self.qkv"] + w[p + "attention.self.qkv.bias"]
            q, k, v = qkv[:, :d], qkv[:, d : 2 * d], qkv[:, 2 * d :]
            q = q.reshape(n, h, hd).transpose(1, 0, 2)
            k = k.reshape(n, h, hd).transpose(1, 2, 0)
            v = v.reshape(n, h, hd).transpose(1, 0, 2)
            scores = (q @ k) / np.sqrt(hd)
            scores -= scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(1, 0, 2).reshape(n, d)
            attn = (
                ctx @ t[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
            )
            x = _layer_norm(
                x + attn,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            mid = _gelu(x @ t[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
            out = mid @ t[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = _layer_norm(
                x + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps
            )
        return x
