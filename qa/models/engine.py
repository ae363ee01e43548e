"""Where the bundled models' ONNX graphs live: written once to the user's cache, then
loaded from the file.

Writing a model's graph from its weights takes ~0.4 s of Python per process; loading the
written files takes ~30-45 ms. So the first process that needs a model writes its graph to
``<user cache>/qa/models/<name>-<key>/`` (``key``: a hash of the model id, the weights'
package version and size, and ``EXPORTER_VERSION``), and every later one reads it. The
graph is ``model.onnx`` with its weights beside it in ``weights.bin`` (ONNX external data):
ONNX Runtime then reads the weights straight from the file instead of parsing them out of
a 90 MB protobuf, which took MiniLM's session 114-136 ms to open against 42-46 ms
(measured 2026-12-01; the same graph, so the same vectors). Each file is written to a
temporary name and renamed into place under a file lock, so two processes never write
at once and a reader never sees half of one. Beside them, ``model.onnx.json`` records
each file's size, modification time and SHA-256: a file whose size or time differs is
hashed, and one whose hash differs (damaged, truncated, edited) is written again. A cache
folder that cannot be written costs a warning and the ~0.4 s of building the graph in
memory, in every process.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa import places
from qa.files import write_atomic

# Bump whenever qa.models.onnx_bert writes a different graph for the same weights.
EXPORTER_VERSION = 2  # 2: the weights in weights.bin beside the graph
MODEL_FILE = "model.onnx"
WEIGHTS_FILE = "weights.bin"
RECORD_FILE = "model.onnx.json"
EXTERNAL_BYTES = 1024  # initializers at least this large go to WEIGHTS_FILE

_warned: set[str] = set()


def cache_root() -> Path:
    """The folder holding every written model (``$XDG_CACHE_HOME/qa/models`` on Linux)."""
    return places.cache_root() / "models"


def cache_key(model_id: str, weights: Path, package_version: str) -> str:
    """12 hex digits naming one model's weights written by one exporter version."""
    identity = {
        "model_id": model_id,
        "weights": weights.name,
        "weights_bytes": weights.stat().st_size,
        "package_version": package_version,
        "exporter": EXPORTER_VERSION,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def package_version(distribution: str, module: str) -> str:
    """The installed version of the PyPI package ``distribution`` (import name
    ``module``), part of the cache key: read from the name of the wheel's
    ``<name>-<version>.dist-info`` folder beside the module when there is exactly one,
    which is what ``importlib.metadata.version`` reads too, without its ~20 ms of imports
    on a cold question; otherwise from ``importlib.metadata``."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is not None and spec.origin is not None:
        name = re.sub(r"[-_.]+", "_", distribution).lower()  # as wheels name the folder
        home = Path(spec.origin).parent  # a single-file module's folder, or the package's
        if spec.submodule_search_locations is not None:
            home = home.parent
        found = list(home.glob(f"{name}-*.dist-info"))
        if len(found) == 1:
            return found[0].name[len(name) + 1 : -len(".dist-info")]
    from importlib.metadata import version

    return version(distribution)


def warn_once(message: str) -> None:
    """``qa: warning: …`` on stderr, once per process for each message."""
    from qa.display import safe_text

    if message not in _warned:
        _warned.add(message)
        print(f"qa: warning: {safe_text(message, one_line=True)}", file=sys.stderr)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"


def _record(path: Path, digest: str) -> dict[str, Any]:
    stat = path.stat()
    return {"sha256": digest, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _is_intact(folder: Path) -> bool:
    """True when the cached graph and its weights are there and match their record: same
    sizes, and the same modification times or else the same SHA-256 (stats, not reads,
    in the usual case)."""
    try:
        record = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
        files = record.get("files") if isinstance(record, dict) else None
        if not isinstance(files, dict) or set(files) != {MODEL_FILE, WEIGHTS_FILE}:
            return False
        for name, entry in files.items():
            path = folder / name
            stat = path.stat()
            if not isinstance(entry, dict) or entry.get("bytes") != stat.st_size:
                return False  # truncated or grown
            if entry.get("mtime_ns") != stat.st_mtime_ns and (
                hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("sha256")
            ):
                return False
        return True
    except (OSError, ValueError):
        return False


def split_weights(data: bytes) -> tuple[bytes, bytes]:
    """A serialized model as (graph, weights): every initializer of ``EXTERNAL_BYTES`` or
    more moved into the weights, 64-byte aligned, as ONNX external data in ``WEIGHTS_FILE``."""
    import onnx
    from onnx.external_data_helper import set_external_data

    model = onnx.load_from_string(data)
    weights = bytearray()
    for tensor in model.graph.initializer:
        if len(tensor.raw_data) < EXTERNAL_BYTES:
            continue
        weights += bytes(-len(weights) % 64)
        offset = len(weights)
        weights += tensor.raw_data
        set_external_data(tensor, WEIGHTS_FILE, offset, len(tensor.raw_data))
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.ClearField("raw_data")
    return model.SerializeToString(), bytes(weights)


def _write(folder: Path, data: bytes) -> None:
    """The weights and the graph, then their record (files without a record are written
    again)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORD_FILE).unlink(missing_ok=True)
    graph, weights = split_weights(data)
    files = {WEIGHTS_FILE: weights, MODEL_FILE: graph}
    for name, content in files.items():
        write_atomic(folder / name, content)
    record = {
        name: _record(folder / name, hashlib.sha256(content).hexdigest())
        for name, content in files.items()
    }
    write_atomic(folder / RECORD_FILE, json.dumps({"files": record}))


def _drop_older(folder: Path) -> None:
    """Earlier keys of the same model (another package version or exporter)."""
    name = folder.name.rsplit("-", 1)[0]
    for other in folder.parent.glob(f"{name}-*"):
        if other != folder and other.is_dir() and re.fullmatch(r"[0-9a-f]{12}", other.name[-12:]):
            shutil.rmtree(other, ignore_errors=True)


def cached_graph(name: str, key: str, export: Callable[[], bytes]) -> Path | bytes:
    """Model ``name``'s graph: the cached file when it is there and intact, else
    ``export()``-ed once (under a lock, so concurrent processes wait for one writer),
    written, and that file. When the cache cannot be written, the serialized graph
    itself (``export()`` runs in every process) and one warning says why."""
    folder = cache_root() / f"{_slug(name)}-{key}"
    if _is_intact(folder):
        return folder / MODEL_FILE
    from filelock import FileLock, Timeout

    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder) + ".lock", is_singleton=False, thread_local=False)
        lock.acquire(timeout=600)
    except (OSError, Timeout) as err:
        _cannot_write(name, folder, err)
        return export()
    try:
        if _is_intact(folder):  # another process may have written it meanwhile
            return folder / MODEL_FILE
        damaged = (folder / MODEL_FILE).exists()
        data = export()
        try:
            _write(folder, data)
        except OSError as err:
            _cannot_write(name, folder, err)
            return data
        _drop_older(folder)
        if damaged:
            warn_once(f"the cached {name} model in {folder} was damaged; it was written again")
        return folder / MODEL_FILE
    finally:
        lock.release()


def _cannot_write(name: str, folder: Path, err: BaseException) -> None:
    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    warn_once(
        f"cannot write the model cache in {folder.parent} ({reason}); "
        f"building the {name} model in memory in every process"
    )


# ------------------------------------------------------------------ running a graph

Windows = list[tuple[list[int], int]]  # a text's token-id windows, each with its weight


def embed_texts(
    texts: list[str],
    windows: Callable[[str], Windows],
    run: Callable[[list[int]], Any],
    dim: int,
    progress: Callable[[int], None] | None = None,
    parallel: bool = True,
) -> Any:
    """Each text's L2-normalised vector [texts, dim]: ``windows`` tokenizes a text,
    ``run`` maps one window's ids to its mean-pooled states, and a text's windows are
    averaged by weight. With ``parallel``, texts run on every core at once (ONNX Runtime
    releases the GIL; one thread tokenizes while another runs a graph), longest first so
    that no core is left with a long text at the end; ``progress`` hears of each text,
    in order."""
    import numpy as np

    from qa.threads import cpu_threads

    def one(text: str) -> Any:
        parts = windows(text)
        total = np.zeros(dim, dtype=np.float64)
        for ids, weight in parts:
            total += weight * np.asarray(run(ids), dtype=np.float64)
        return total / max(sum(w for _, w in parts), 1)

    out = np.zeros((len(texts), dim), dtype=np.float32)
    if parallel and len(texts) > 1 and cpu_threads() > 1:
        from concurrent.futures import ThreadPoolExecutor

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with ThreadPoolExecutor(cpu_threads()) as pool:
            futures = {i: pool.submit(one, texts[i]) for i in order}
            for i in range(len(texts)):
                out[i] = futures[i].result()
                if progress:
                    progress(1)
    else:
        for i, text in enumerate(texts):
            out[i] = one(text)
            if progress:
                progress(1)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(out / norms)
