"""BM25 over bilingual tokens.

The index is built and saved by bm25s (plain ``.npy`` arrays and JSON, no pickle). At
query time we read those arrays directly and add up the precomputed per-token scores,
which is what bm25s does too, without importing bm25s (and numba) on the query path.
Reading the arrays ourselves also lets a query weight its tokens: words the user typed
count fully, glossary expansions count less.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

BM25_DIR = "bm25"
_ARRAYS = ("data", "indices", "indptr")


def build_bm25(token_lists: Sequence[Sequence[str]], folder: Path) -> None:
    """Index tokenised chunks with bm25s and save the index under ``folder``."""
    import bm25s

    retriever = bm25s.BM25()
    # bm25s wants at least one token per document; an empty chunk gets a placeholder.
    corpus = [list(tokens) or ["\x00empty"] for tokens in token_lists]
    if not corpus:
        corpus = [["\x00empty"]]
    retriever.index(corpus, show_progress=False)
    retriever.save(str(folder), show_progress=False)


class LexicalIndex:
    """A loaded BM25 index: a sparse token × chunk matrix of precomputed scores."""

    def __init__(
        self,
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        vocab: Mapping[str, int],
        num_docs: int,
    ):
        self.data = data
        self.indices = indices
        self.indptr = indptr
        self.vocab = vocab
        self.num_docs = num_docs

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        folder = Path(folder)
        arrays = [np.load(folder / f"{name}.csc.index.npy", allow_pickle=False) for name in _ARRAYS]
        vocab = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
        data, indices, indptr = arrays
        index = cls(data, indices, indptr, vocab, int(params["num_docs"]))
        if len(index.indptr) - 1 < len(vocab) - 1:
            raise ValueError("BM25 arrays do not match the vocabulary")
        return index

    def scores(self, weighted_tokens: Mapping[str, float]) -> np.ndarray:
        """BM25 score of every chunk; each query token's contribution times its weight."""
        docs, values = [], []
        for token, weight in weighted_tokens.items():
            span = self._span(token)
            docs.append(self.indices[span])
            values.append(weight * self.data[span])
        if not docs:
            return np.zeros(self.num_docs, dtype=np.float32)
        return np.bincount(
            np.concatenate(docs), weights=np.concatenate(values), minlength=self.num_docs
        ).astype(np.float32)

    def _span(self, token: str) -> slice:
        """Where ``token``'s chunks and scores are in ``indices`` and ``data``."""
        tid = self.vocab.get(token)
        if tid is None or tid + 1 >= len(self.indptr):
            return slice(0, 0)
        return slice(int(self.indptr[tid]), int(self.indptr[tid + 1]))

    def postings(self, token: str) -> np.ndarray:
        """The chunks that contain ``token``."""
        return self.indices[self._span(token)]

    def coverage(self, terms: Iterable[set[tuple[str, ...]]], docs: np.ndarray) -> np.ndarray:
        """The share of the question's terms that each of ``docs`` contains.

        A term is a set of alternative forms (one concept in both languages), each a
        tuple of tokens; a chunk has the term if it contains every token of one of its
        forms. A term no chunk contains cannot tell chunks apart and is left out. This
        is the "coordination" factor of classic search engines: a chunk with every word
        of the question ranks above one that repeats only some of them.
        """
        have, counted = self.terms_in(terms, docs)
        return have / counted if counted else have.astype(np.float64)

    def terms_in(
        self, terms: Iterable[set[tuple[str, ...]]], docs: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """How many of ``terms`` each of ``docs`` contains (see ``coverage``), and how
        many of the terms any chunk contains."""
        have = np.zeros(len(docs), dtype=np.int64)
        counted = 0
        contains = np.zeros(self.num_docs, dtype=bool)
        for term in terms:
            contains[:] = False
            for form in term:
                contains |= self._containing(form)
            if contains.any():
                have += contains[docs]
                counted += 1
        return have, counted

    def _containing(self, tokens: tuple[str, ...]) -> np.ndarray:
        """Which chunks contain every one of ``tokens``."""
        mask = np.zeros(self.num_docs, dtype=bool)
        if tokens:
            mask[self.postings(tokens[0])] = True
        for token in tokens[1:]:
            if not mask.any():
                break
            other = np.zeros(self.num_docs, dtype=bool)
            other[self.postings(token)] = True
            mask &= other
        return mask
