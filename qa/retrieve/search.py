"""One way in: ``Searcher.search`` answers a question from an index.

The CLI, the TUI and the evaluator all call it, so what is evaluated is what users get.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from qa.lang.code_mixed import MAX_RENDERED_SENSES, chinese_terms
from qa.lang.glossary import Expansion, match_form
from qa.lang.text import detect_language, has_chinese, normalise
from qa.models.encoders import Encoder
from qa.models.pool import POOL, ModelPool
from qa.retrieve.answer_span import SPAN_HITS, DenseView, SpanContext
from qa.retrieve.by_language import best_rows, scores_by_language, section_languages
from qa.retrieve.confidence import (
    DEFAULT_MODEL,
    Term,
    absent_subject,
    coverage,
    distinctive_forms,
    has_term,
    informative_terms,
    named_terms,
    topic_terms,
    with_translations,
)
from qa.retrieve.fusion import get_fusion, ranks_of
from qa.retrieve.query import Query
from qa.retrieve.rerank import (
    DEPTH,
    Candidate,
    Reranker,
    intents,
    load_reranker,
    only_figures,
    says_words,
)
from qa.settings import LEXICAL, Settings
from qa.store.chunks import Chunk
from qa.store.index import Index, IndexOutdated, check_compatible

MAX_QUESTION_CHARS = 2000
CANDIDATES = 100  # per channel
DICTIONARY_WEIGHT = 0.5  # a dictionary translation counts half a glossary expansion
NOTES_LANGUAGE_SAMPLE = 2000  # sections read to tell whether the notes are Chinese
UNANSWERED_WITHIN = 3  # an unanswered heading is shown if it ranks this high among all


class QuestionError(ValueError):
    """A question that cannot be searched (empty, or nothing but punctuation)."""


@dataclass
class Hit:
    """One retrieved chunk: its rank, fused score and what each channel thought of it."""

    chunk: Chunk
    rank: int
    score: float
    channel_scores: dict[str, float] = field(default_factory=dict)
    channel_ranks: dict[str, int] = field(default_factory=dict)
    terms_found: int | None = None  # how many of the question's terms it has, if known
    row: int = -1  # the chunk's position in the index
    # The sentences that answer, as (start, end) offsets into chunk.text (qa.retrieve.answer_span);
    # None when not looked for (past the first SPAN_HITS hits), [] when none answers.
    answer_spans: list[tuple[int, int]] | None = None

    @property
    def answer_text(self) -> str | None:
        """The answering sentences, one per line (None when not looked for)."""
        if self.answer_spans is None:
            return None
        return "\n".join(self.chunk.text[a:b] for a, b in self.answer_spans)

    @property
    def answered(self) -> bool:
        return self.chunk.answered

    def to_json(self) -> dict[str, Any]:
        loc = self.chunk.location
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "file": loc.file,
            "start_line": loc.start_line,
            "end_line": loc.end_line,
            "heading": self.chunk.heading,
            "heading_path": list(loc.heading_path),
            "text": self.chunk.text,
            "answered": self.chunk.answered,
            "also_in": [
                {"file": other.file, "start_line": other.start_line}
                for other in self.chunk.locations[1:]
            ],
            "channels": {k: round(float(v), 6) for k, v in self.channel_scores.items()},
            "answer_spans": (
                None if self.answer_spans is None else [list(s) for s in self.answer_spans]
            ),
            "answer": self.answer_text,
        }


@dataclass
class Answer:
    """What ``search`` returns for one question."""

    question: str
    lang: str
    hits: list[Hit]  # passages that answer, best first
    unanswered: list[Hit]  # headings in the notes that ask this but have no text yet
    channels: tuple[str, ...]  # the channels that took part
    query: Query | None = None  # the question as analysed (its tokens, words, terms)
    confidence: float = 0.0  # estimated probability that hits[0] answers the question
    declined: bool = True  # the notes do not seem to answer this; hits are only the nearest
    features: dict[str, float] = field(default_factory=dict)
    expansion: Expansion | None = None  # the question carried across languages
    span_context: SpanContext | None = (
        None  # how answer spans were scored (qa.retrieve.answer_span)
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "lang": self.lang,
            "declined": self.declined,
            "confidence": round(self.confidence, 4),
            "hits": [h.to_json() for h in self.hits],
            # Headings that ask this question with nothing under them yet; never in hits.
            "unanswered": [h.to_json() for h in self.unanswered],
        }


def clean_question(question: str) -> str:
    """Drop control characters and collapse whitespace; refuse what cannot be searched."""
    text = "".join(
        " " if unicodedata.category(ch)[0] in "CZ" else ch
        for ch in question[: MAX_QUESTION_CHARS * 4]
    )
    text = " ".join(text.split())[:MAX_QUESTION_CHARS]
    if not text:
        raise QuestionError("the question is empty")
    if not any(ch.isalnum() for ch in text):
        raise QuestionError("the question has no words in it")
    return text


@dataclass
class ChannelResult:
    """One channel's candidates for a question, best first."""

    ids: np.ndarray
    scores: np.ndarray
    vector: np.ndarray | None = None  # the question's embedding, for dense channels
    every: np.ndarray | None = None  # BM25's score of every chunk (lexical channel)
    # Whether the channel searched with the question rendered otherwise (qa.lang.code_mixed).
    rendered: bool = False


class Searcher:
    """An open index plus the encoders its dense channels need (loaded on first use)."""

    def __init__(
        self,
        index: Index,
        settings: Settings,
        encoders: dict[str, Encoder] | None = None,
        pool: ModelPool | None = None,
    ):
        """Open indexes through ``qa.library.Library``, not by calling this.

        ``encoders``: models to use before the pool's (a test's own instances);
        ``pool``: where other models come from (default: the process's)."""
        self._models = pool or POOL
        check_compatible(index.manifest, settings, self._models)
        self.index = index
        self.settings = settings
        self._encoders: dict[str, Encoder] = {
            name: enc
            for name, enc in (encoders or {}).items()
            if name in settings.dense_channels and index.model_id(name) == enc.model_id
        }
        self._executor: Any = None
        self._matrices: dict[str, np.ndarray] = {}
        self._heading_tokens: dict[str, list[str]] = {}
        self._chinese_vocab: bool | None = None
        self._chinese_notes: bool | None = None
        self._zh_sections: np.ndarray | None = None
        self._within: dict[tuple[str, ...], np.ndarray] = {}
        self._answered = np.array([c.answered for c in index.chunks], dtype=bool)
        self._centroids = {
            name: np.asarray(info.centroid, dtype=np.float32)
            for name, info in index.manifest.dense.items()
            if info.centroid
        }
        # The glossary and the tokenizer are the index's, as it was built.
        self.glossary = index.glossary
        self.tokenizer = index.tokenizer
        lexical = index.manifest.lexical
        if lexical is not None and lexical.segmenter != self.tokenizer.fingerprint:
            raise IndexOutdated(
                f"the index at {index.folder.parent} was cut into words by another word "
                "segmenter than its glossary gives; run `qa build`"
            )

    @property
    def filling(self) -> tuple[str, ...]:
        """Channels the settings name that this generation lacks because its build adds
        them in the next one; search uses the others meanwhile."""
        return tuple(c for c in self.index.manifest.filling if c in self.settings.channels)

    @property
    def encoders(self) -> dict[str, Encoder]:
        """The models loaded so far, by channel."""
        return dict(self._encoders)

    def encoder(self, channel: str) -> Encoder:
        if channel not in self._encoders:
            model = dict(zip(self.settings.dense_channels, self.settings.models, strict=True))
            self._encoders[channel] = self._models.get(model[channel])
        return self._encoders[channel]

    def warm_up(self) -> None:
        """Load every model now (the TUI does this in a worker)."""
        for channel in self.settings.dense_channels:
            self.encoder(channel).warm_up()

    def search(
        self,
        question: str | Query,
        top_k: int = 5,
        channels: Sequence[str] | None = None,
        within: Sequence[str] | None = None,
        leave_out: Sequence[int] = (),
        spans: bool = True,
    ) -> Answer:
        """Rank the notes for ``question`` (a string, or a ``Query`` from ``analyse``);
        ``channels`` restricts which channels take part.

        ``within``: note paths (files or folders, relative to the notes folder, as the
        index records them; qa.retrieve.scope resolves what a user types) that hits must lie in.
        Each channel picks its candidates among those notes only, so the answer still has
        the best ``top_k`` within them. ``leave_out``: rows of chunks that may not answer,
        nor be shown as headings the notes ask (qa gaps: a table of contents that only
        links to the heading asked about, and every empty heading).
        ``spans``: also mark the answering sentences of the best hits (off for callers
        that only rank, such as retrieval scoring and qa gaps: it is most of a warm
        question's time)."""
        query = question if isinstance(question, Query) else self.analyse(question)
        text, lang, expansion, terms = query.text, query.lang, query.expansion, query.terms
        asked = tuple(
            c for c in (channels or self.settings.channels) if c in self.settings.channels
        )
        use = tuple(c for c in asked if c not in self.filling)
        if not use:
            filling = f" (the {', '.join(asked)} vectors are being filled in)" if asked else ""
            raise ValueError(f"no retrieval channel selected{filling}")
        allowed = self._rows_within(tuple(within)) if within else None
        raw = self._all_candidates(
            use, text, query.weighted, expansion, allowed, query.chinese_words
        )

        candidates = np.array(sorted({int(i) for r in raw.values() for i in r.ids}), dtype=np.int64)
        if not len(candidates):
            return Answer(text, lang, [], [], use, query, expansion=expansion)
        per_channel = {
            name: self._scores_of(name, result, candidates) for name, result in raw.items()
        }

        fuse = get_fusion(self.settings.fusion)
        weights = {c: self.settings.weight(c) for c in use}
        lexical = self.index.lexical
        found = lexical.terms_in(terms, candidates) if lexical is not None else None
        # Blending coverage in is part of fusing: each channel alone stays itself
        # (qa eval --by-channel).
        blend = LEXICAL in use and len(use) > 1 and bool(self.settings.coverage_weight)
        rank = partial(self._rank, candidates, per_channel, fuse, weights, found, blend)
        may_answer = self._answered
        shown = np.ones(len(candidates), dtype=bool)  # the candidates that may be shown at all
        if len(leave_out):
            rows = np.asarray(leave_out, dtype=np.int64)
            may_answer = may_answer.copy()
            may_answer[rows] = False
            shown = ~np.isin(candidates, rows)
        answered = may_answer[candidates]
        reranker = self._reranker()
        hits = rank(answered, max(top_k, DEPTH) if reranker else top_k)
        if reranker is not None and len(hits) > 1:
            counted = found[1] if found is not None else 0
            order = reranker.order(text, self._describe(hits, terms, counted))
            hits = [hits[i] for i in order][:top_k]
            for n, hit in enumerate(hits, start=1):
                hit.rank = n
        everything = rank(shown, UNANSWERED_WITHIN)
        # A heading with no answer is shown only when it is among the best matches of all
        # and shares a topic word with the question: dense models find short headings in
        # the question's language "similar" to almost any question.
        unanswered = [
            h
            for h in everything
            if h.chunk.asks and _shares_term(h, terms, self.tokenizer.tokenize)
        ]
        for n, hit in enumerate(unanswered, start=len(hits) + 1):
            hit.rank = n
        if within:
            for hit in hits + unanswered:
                hit.chunk = self._placed_within(hit.chunk, tuple(within))
        answer = Answer(text, lang, hits, unanswered, use, query, expansion=expansion)
        if spans:
            answer.span_context = self.span_context(text, lang, terms, raw)
        if hits:
            answer.features = self._evidence(
                query.own_terms,
                raw,
                hits[0],
                may_answer,
                question=text,
                bridged=query.terms,
                asked=query.tokens,
            )
            # A heading of the notes that asks this with no answer under it, ranked above
            # every answer: where the notes would answer it, they are still empty.
            answer.features["asked_first"] = float(
                bool(unanswered) and unanswered[0].score > hits[0].score
            )
            answer.confidence = DEFAULT_MODEL.probability(answer.features, lang)
            answer.declined = answer.confidence < DEFAULT_MODEL.threshold
            context = answer.span_context
            if context is not None:
                for hit in hits[:SPAN_HITS]:
                    heading = " ".join(hit.chunk.heading_path[-1:])
                    hit.answer_spans = context.spans(hit.chunk.text, heading=heading)
        return answer

    def analyse(self, question: str) -> Query:
        """``question`` analysed once, by the index's tokenizer: what ``search``, the
        answering sentences and the highlighter read of it. Raises ``QuestionError`` for
        a question that cannot be searched."""
        text = clean_question(question)
        cut = self.tokenizer.analyse(text)
        expansion = self.glossary.expand(text) if self.settings.glossary else None
        own_terms = topic_terms(text, expansion, self.tokenizer.tokenize)
        terms, bridged, chinese_words = self._bridge(text, own_terms)
        weighted = self.lexical_terms(cut.tokens, expansion)
        for token in bridged:
            weighted.setdefault(token, self.settings.expansion_weight * DICTIONARY_WEIGHT)
        lang = detect_language(text)
        return Query(
            text,
            lang,
            cut.tokens,
            cut.words,
            expansion,
            own_terms,
            terms,
            weighted,
            self.tokenizer,
            chinese_words,
        )

    def span_context(
        self, text: str, lang: str, terms: list[Term], raw: dict[str, ChannelResult]
    ) -> SpanContext:
        """What scoring a passage's sentences against this question needs: its terms and,
        for each dense channel that took part and whose unit vectors the index stores
        (qa.store.unit_vectors), the question's vector (qa.retrieve.answer_span)."""
        views = {}
        for name, result in raw.items():
            store = self.index.unit_vectors.get(name)
            vector = result.vector
            if vector is None or store is None:
                continue
            if result.rendered:
                # The span weights were fitted on the question's own embedding: spans are
                # scored with it (5 ms more, for English questions over Chinese notes).
                vector = self.encoder(name).embed_queries([text])[0]
            views[name] = DenseView(vector, store.lookup, self.encoder(name).multilingual)
        return SpanContext(text, lang, terms, views, tokenize=self.tokenizer.tokenize)

    def _bridge(self, text: str, own: list[Term]) -> tuple[list[Term], list[str], dict[str, str]]:
        """The question's topic terms (one per term of ``own``, in its order; ``own`` is
        left as it is) with the dictionary's translations, the BM25 tokens those add, and
        the first Chinese translation of each English word or two-word phrase that has one
        (for qa.lang.code_mixed).

        A word outside the glossary gets, as other forms of its term, its translations
        in CC-CEDICT (qa.lang.dictionary) that the notes contain: 背包 is also "knapsack" in
        English notes, "stable" is also 稳定 in Chinese ones. Two English words side by
        side that CC-CEDICT has as one phrase the notes contain are that phrase: both
        their terms become "linked list" / 链表, and neither word is translated alone.
        """
        terms = [set(t) for t in own]
        lexical = self.index.lexical
        if not self.settings.dictionary or lexical is None:
            return terms, [], {}
        vocab = lexical.vocab
        plain = [(t, next(iter(t))[0]) for t in terms if len(t) == 1 and len(next(iter(t))) == 1]
        chinese = [(t, w) for t, w in plain if has_chinese(w)]
        english = [(t, w) for t, w in plain if not has_chinese(w)]
        english = english if english and self._notes_have_chinese() else []
        if not chinese and not english:
            return terms, [], {}
        from qa.lang.dictionary import load_dictionary

        dictionary = load_dictionary()
        added: list[str] = []
        rendering: dict[str, str] = {}

        def known_english(word: str) -> bool:
            return all(t in vocab for t in self.tokenizer.tokenize(word))

        def known_chinese(word: str) -> bool:
            return normalise(word) in vocab

        for term, word in chinese:
            for gloss in dictionary.english(word, known_english):
                form = tuple(dict.fromkeys(self.tokenizer.tokenize(gloss)))
                if form:
                    term.add(form)
                    added += form
        if english:
            text_form = match_form(text)
            spans = list(re.finditer(r"[a-z][a-z0-9'\-]*", text_form))
            words = [m.group(0) for m in spans]
            # A word's stem, when it is one token (a stop word has none).
            stem_of = [s[0] if len(s := self.tokenizer.tokenize(w)) == 1 else None for w in words]
            # Each word's own term, in the question's order (a word asked twice has two).
            queue: dict[str, list[Term]] = {}
            for term, stem in english:
                queue.setdefault(stem, []).append(term)
            owned: list[tuple[str, Term] | None] = []
            for word_stem in stem_of:
                pending = queue.get(word_stem) if word_stem is not None else None
                owned.append((word_stem, pending.pop(0)) if word_stem and pending else None)
            phrased: set[int] = set()  # the terms a phrase took (by id)
            for i in range(len(words) - 1):
                phrase_text = f"{words[i]} {words[i + 1]}"
                found = [normalise(w) for w in dictionary.chinese(phrase_text, known_chinese)]
                added += found
                first, second = owned[i], owned[i + 1]
                if (
                    not found
                    or first is None
                    or second is None
                    or first[0] == second[0]  # "win win"
                    or text_form[spans[i].end() : spans[i + 1].start()].strip()  # "linked, list"
                    or {id(first[1]), id(second[1])} & phrased
                ):
                    continue
                # "linked list" is 链表, not "link" (关联) and "list" (列举) apart: each of
                # the two words' terms is found where the phrase is, in either language.
                phrase = {(first[0], second[0]), *((zh,) for zh in found)}
                for _, term in (first, second):
                    term.clear()
                    term.update(phrase)
                    phrased.add(id(term))
                if dictionary.senses(phrase_text) <= MAX_RENDERED_SENSES:
                    rendering[phrase_text] = found[0]
            by_stem: dict[str, str] = {}
            for w, word_stem in zip(words, stem_of, strict=True):
                if word_stem is not None:
                    by_stem.setdefault(word_stem, w)
            for term, stem in english:
                word = by_stem.get(stem, "")
                if id(term) in phrased or not word:
                    continue
                found = [normalise(w) for w in dictionary.chinese(word, known_chinese)]
                for zh in found:
                    term.add((zh,))
                    added.append(zh)
                if found and dictionary.senses(word) <= MAX_RENDERED_SENSES:
                    rendering.setdefault(word, found[0])
        return terms, list(dict.fromkeys(added)), rendering

    def _notes_have_chinese(self) -> bool:
        if self._chinese_vocab is None:
            lexical = self.index.lexical
            self._chinese_vocab = lexical is not None and any(map(has_chinese, lexical.vocab))
        return self._chinese_vocab

    def _reranker(self) -> Reranker | None:
        return None if self.settings.rerank == "none" else load_reranker()

    def describe(self, answer: Answer) -> list[Candidate]:
        """What the reranker reads of each of the answer's hits (bench/fit_reranker.py)."""
        query = answer.query if answer.query is not None else self.analyse(answer.question)
        terms = query.terms
        lexical = self.index.lexical
        counted = lexical.terms_in(terms, np.zeros(0, dtype=np.int64))[1] if lexical else 0
        return self._describe(answer.hits, terms, counted)

    def _describe(self, hits: list[Hit], terms: list[Term], counted: int) -> list[Candidate]:
        out = []
        for hit in hits:
            chunk = hit.chunk
            if hit.terms_found is not None:
                share = hit.terms_found / counted if counted else 0.0
            else:
                share = coverage(terms, self.tokenizer.tokenize(chunk.lexical_text()))
            if chunk.id not in self._heading_tokens:
                self._heading_tokens[chunk.id] = self.tokenizer.tokenize(chunk.heading)
            out.append(
                Candidate(
                    fused=hit.score,
                    channel_scores=hit.channel_scores,
                    coverage=share,
                    heading_coverage=coverage(terms, self._heading_tokens[chunk.id]),
                    heading=chunk.heading,
                    text=chunk.text,
                    part=chunk.part,
                    depth=len(chunk.heading_path),
                )
            )
        return out

    def _scores_of(self, name: str, result: ChannelResult, candidates: np.ndarray) -> np.ndarray:
        """One channel's score for every candidate.

        A channel scores every candidate exactly, not only those in its own top list: BM25
        has computed every chunk's score, and a dense channel's vectors are in the index.
        (Scoring only its own list would leave a candidate another channel found at 0
        after normalisation, so a chunk BM25 and MiniLM rank first could lose because e5
        did not list it.) With ``exact_scores`` off, unlisted candidates stay NaN.
        """
        exact = self.settings.exact_scores
        if exact and result.every is not None:
            return result.every[candidates].astype(np.float64)
        column = np.full(len(candidates), np.nan, dtype=np.float64)
        column[np.searchsorted(candidates, result.ids)] = result.scores
        if exact and result.vector is not None:
            missing = np.isnan(column)
            if missing.any():
                rows = self._matrix(name)[candidates[missing]]
                column[missing] = rows @ result.vector
        return column

    def _matrix(self, name: str) -> np.ndarray:
        """The stored vectors of a dense channel, as a view into the FAISS index."""
        if name not in self._matrices:
            import faiss

            index = self.index.vectors[name]
            flat = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d)
            self._matrices[name] = np.asarray(flat).reshape(index.ntotal, index.d)
        return self._matrices[name]

    def _evidence(
        self,
        terms: list[Term],
        raw: dict[str, ChannelResult],
        top: Hit,
        may_answer: np.ndarray | None = None,
        question: str = "",
        bridged: list[Term] | None = None,
        asked: Sequence[str] = (),
    ) -> dict[str, float]:
        """The signals the confidence model reads (see qa.retrieve.confidence);
        ``question``: as written, for telling names from everyday words; ``bridged``:
        ``terms`` with their translations the notes contain (``_bridge``); ``asked``: the
        question's tokens."""
        features: dict[str, float] = {}
        may_answer = self._answered if may_answer is None else may_answer
        for name, result in raw.items():
            centroid = self._centroids.get(name)
            if result.vector is None or centroid is None:
                continue
            answered = may_answer[result.ids]
            best = float(result.scores[answered].max()) if answered.any() else 0.0
            features[f"{name}_gap"] = best - float(result.vector @ centroid)
        lexical = self.index.lexical
        if lexical is None or top.row < 0:
            features["coverage"] = coverage(
                terms, self.tokenizer.tokenize(top.chunk.lexical_text())
            )
            return features
        # Which terms count is read from the question's own words: a Chinese word that
        # English notes never use is left out even when a translation of it is in them
        # (比较 is "compare": a question about house plants must not look covered).
        informative = informative_terms(
            terms, lambda word: word in lexical.vocab, self._notes_are_chinese()
        )
        if not informative:
            features["coverage"] = 0.0
            return features
        # But a term the notes say in the other language is there: "stable" in notes that
        # write 稳定 (the translations of ``bridged``).
        said = with_translations(informative, terms, bridged) if bridged else informative
        found, _ = lexical.terms_in(said, np.array([top.row], dtype=np.int64))
        features["coverage"] = float(found[0]) / len(informative)
        nowhere = np.zeros(0, dtype=np.int64)
        written = set(asked)

        def in_notes(t: Term) -> bool:
            """Mentioned by a form that says so: "ln" in a formula is no layer norm,
            unless the question itself says LN."""
            return lexical.terms_in([distinctive_forms(t, written)], nowhere)[1] > 0

        # A topic of the question that no note mentions at all ("dropout" asked of notes
        # that never say it) is the plainest sign the notes do not cover the question.
        features["absent"] = 1.0 - sum(map(in_notes, said)) / len(informative)
        named = named_terms(informative, question, self.tokenizer.tokenize)
        features["absent_named"] = 0.0
        if named:  # most questions name nothing: no heading to cut into words
            heading = set(self.tokenizer.tokenize(" ".join(top.chunk.heading_path)))

            # Two concepts compared need both: notes on BN do not answer "BN vs LN". (A
            # tool the comparison is asked in, "in PyTorch", is no glossary concept.)
            compared = "compare" in intents(question) and any(
                len(t) > 1 and not in_notes(t) for t in named
            )
            features["absent_named"] = float(
                compared
                or absent_subject(
                    named, in_notes=in_notes, in_heading=lambda t: has_term(heading, t)
                )
            )
        return features

    def _chinese_sections(self) -> np.ndarray:
        """Whether each section is written in Chinese (worked out on first use)."""
        if self._zh_sections is None:
            self._zh_sections = section_languages([c.text for c in self.index.chunks])
        return self._zh_sections

    def _notes_are_chinese(self) -> bool:
        """Whether most sections are written in Chinese (read from at most
        NOTES_LANGUAGE_SAMPLE of them, evenly spread)."""
        if self._chinese_notes is None:
            chunks = self.index.chunks
            step = max(1, len(chunks) // NOTES_LANGUAGE_SAMPLE)
            sample = chunks[::step]
            zh = sum(detect_language(c.text) == "zh" for c in sample)
            self._chinese_notes = bool(sample) and zh * 2 > len(sample)
        return self._chinese_notes

    def _rank(
        self,
        candidates: np.ndarray,
        per_channel: dict[str, np.ndarray],
        fuse: Any,
        weights: dict[str, float],
        found: tuple[np.ndarray, int] | None,
        blend: bool,
        mask: np.ndarray,
        top_k: int,
    ) -> list[Hit]:
        """The best ``top_k`` of the candidates ``mask`` keeps.

        Channel scores are fused over those candidates. ``found`` is how many of the
        question's terms each candidate contains, and how many any chunk contains
        (``LexicalIndex.terms_in``); with ``blend``, their ratio (the coverage) is blended
        in with the coverage weight.
        """
        if not mask.any():
            return []
        subset = {name: col[mask] for name, col in per_channel.items()}
        fused = fuse(subset, weights, self.settings.rrf_k)
        have = None
        if found is not None:
            have = found[0][mask]
            if blend:
                share = have / found[1] if found[1] else np.zeros(len(have))
                w = self.settings.coverage_weight
                fused = (fused + w * share) / (1 + w)
        ids = candidates[mask]
        order = np.argsort(-fused, kind="stable")
        channel_ranks = {name: ranks_of(col) for name, col in subset.items()}
        hits: list[Hit] = []
        shown: set[tuple[str, int]] = set()
        figures: list[int] = []  # hits whose window is only the section's figure

        def hit(j: int, rank: int) -> Hit:
            return Hit(
                self.index.chunks[int(ids[j])],
                rank,
                float(fused[j]),
                {n: float(c[j]) for n, c in subset.items() if not np.isnan(c[j])},
                {n: int(r[j]) for n, r in channel_ranks.items() if np.isfinite(r[j])},
                int(have[j]) if have is not None else None,
                int(ids[j]),
            )

        for j in order:
            chunk = self.index.chunks[int(ids[j])]
            if self.settings.group_windows:
                # Another window of a section already shown adds nothing new to the list.
                if chunk.section_key in shown:
                    continue
                shown.add(chunk.section_key)
            if len(hits) == top_k:
                break
            if self.settings.group_windows and only_figures(chunk.text):
                figures.append(len(hits))
            hits.append(hit(j, len(hits) + 1))
        # A section shown by a window that is only its figure is shown by its best window
        # with words, when one is a candidate: the card says what the notes say. The
        # section keeps its score (its best window's), so its place and every comparison
        # with it (an unanswered heading ranked above the answers) stay the same.
        for at in figures:
            key, score = hits[at].chunk.section_key, hits[at].score
            for j in order:
                chunk = self.index.chunks[int(ids[j])]
                if chunk.section_key == key and says_words(chunk.text):
                    hits[at] = replace(hit(j, at + 1), score=score)
                    break
        return hits

    def lexical_terms(
        self, query_terms: list[str], expansion: Expansion | None
    ) -> dict[str, float]:
        """Query tokens with weights: typed words 1, glossary equivalents less."""
        weighted = dict.fromkeys(query_terms, 1.0)
        if expansion is None:
            return weighted
        extra: list[str] = []
        for form in expansion.extra_terms:
            # A Chinese glossary form is one token in the index (jieba knows it).
            extra += [normalise(form)] if has_chinese(form) else self.tokenizer.tokenize(form)
        for token in extra:
            weighted.setdefault(token, self.settings.expansion_weight)
        return weighted

    def _rows_within(self, within: tuple[str, ...]) -> np.ndarray:
        """The rows of the chunks that appear in one of the notes or folders ``within``."""
        if within not in self._within:
            paths = {p.strip("/") for p in within}
            prefixes = tuple(p + "/" for p in paths)
            whole = bool(paths & {"", "."})  # the notes folder itself

            def inside(file: str) -> bool:
                return whole or file in paths or file.startswith(prefixes)

            self._within[within] = np.array(
                [any(inside(loc.file) for loc in c.locations) for c in self.index.chunks],
                dtype=bool,
            )
        return self._within[within]

    def _placed_within(self, chunk: Chunk, within: tuple[str, ...]) -> Chunk:
        """``chunk`` with its places inside ``within`` first, so that a section found in
        several notes is shown (and opened) where the user asked to search."""
        paths = {p.strip("/") for p in within}
        if paths & {"", "."}:
            return chunk
        prefixes = tuple(p + "/" for p in paths)
        inside = [
            loc for loc in chunk.locations if loc.file in paths or loc.file.startswith(prefixes)
        ]
        if not inside or inside[0] is chunk.locations[0]:
            return chunk
        rest = [loc for loc in chunk.locations if loc not in inside]
        return replace(chunk, locations=inside + rest)

    def _all_candidates(
        self,
        use: tuple[str, ...],
        text: str,
        query_terms: dict[str, float],
        expansion: Expansion | None,
        allowed: np.ndarray | None = None,
        chinese_words: dict[str, str] | None = None,
    ) -> dict[str, ChannelResult]:
        """Every channel's candidates (among the ``allowed`` rows, when given); dense
        channels run at the same time, one per core."""
        dense = [c for c in use if c != LEXICAL]
        args = (text, query_terms, expansion, allowed, chinese_words)
        if len(dense) < 2:
            return {c: self._channel_candidates(c, *args) for c in use}
        futures = {c: self._pool().submit(self._channel_candidates, c, *args) for c in dense[1:]}
        raw = {c: self._channel_candidates(c, *args) for c in use if c not in futures}
        raw.update({c: f.result() for c, f in futures.items()})
        return {c: raw[c] for c in use}

    def _pool(self) -> Any:
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            from qa.threads import cpu_threads

            self._executor = ThreadPoolExecutor(
                max(1, cpu_threads() - 1), thread_name_prefix="qa-channel"
            )
        return self._executor

    def _channel_candidates(
        self,
        name: str,
        text: str,
        query_terms: dict[str, float],
        expansion: Expansion | None,
        allowed: np.ndarray | None = None,
        chinese_words: dict[str, str] | None = None,
    ) -> ChannelResult:
        """Top candidates of one channel: chunk ids and their scores. ``query_terms``: BM25
        tokens with their weights (``lexical_terms``). ``allowed``: a mask of the rows
        that may be candidates (``search(within=...)``)."""
        n = len(self.index.chunks)
        k = min(n, CANDIDATES)
        rows = np.flatnonzero(allowed) if allowed is not None else None
        if name == LEXICAL:
            assert self.index.lexical is not None
            scores = self.index.lexical.scores(query_terms)
            if rows is None:
                top = np.argsort(-scores, kind="stable")[:k]
            else:
                top = rows[np.argsort(-scores[rows], kind="stable")[:k]]
            top = top[scores[top] > 0]
            return ChannelResult(top.astype(np.int64), scores[top].astype(np.float64), every=scores)
        encoder = self.encoder(name)
        query = text
        if expansion is not None and has_chinese(text) and not encoder.multilingual:
            # An English-only model reads the question rendered in English words.
            query = expansion.english or text
        elif expansion is not None and encoder.multilingual and self._notes_are_chinese():
            # Over notes mostly in Chinese, a multilingual one reads an English question
            # with its glossary terms in Chinese: it matches English to Chinese poorly
            # (qa.lang.code_mixed).
            query = text if has_chinese(text) else chinese_terms(text, expansion, chinese_words)
        elif (
            expansion is not None
            and encoder.multilingual
            and not has_chinese(text)
            and self._notes_have_chinese()
        ):
            # Over notes partly in Chinese, each section is read against the question
            # in its own language (qa.retrieve.by_language).
            mixed = chinese_terms(text, expansion, chinese_words)
            chinese = self._chinese_sections()
            if mixed != text and chinese.any():
                asked, rendered_vector = encoder.embed_queries([text, mixed])
                every = scores_by_language(self._matrix(name), chinese, asked, rendered_vector)
                top = best_rows(every, k, rows)
                return ChannelResult(top, every[top].astype(np.float64), asked, every=every)
        rendered = encoder.multilingual and query != text
        vector = encoder.embed_queries([query])
        if rows is not None:
            # Only some notes: score their vectors exactly (the index is flat, so this is
            # what FAISS would compute) and keep the best.
            similarity = self._matrix(name)[rows] @ vector[0]
            best = np.argsort(-similarity, kind="stable")[:k]
            return ChannelResult(
                rows[best].astype(np.int64),
                similarity[best].astype(np.float64),
                vector[0],
                rendered=rendered,
            )
        scores, ids = self.index.vectors[name].search(vector, k)
        keep = ids[0] >= 0
        return ChannelResult(
            ids[0][keep].astype(np.int64),
            scores[0][keep].astype(np.float64),
            vector[0],
            rendered=rendered,
        )


def _shares_term(hit: Hit, terms: list[Term], tokenize: Callable[[str], list[str]]) -> bool:
    """Whether the hit's chunk has any of the question's topic terms (read from the BM25
    postings when the index has them; an index without BM25 tokenizes the chunk)."""
    if hit.terms_found is not None:
        return hit.terms_found > 0
    return coverage(terms, tokenize(hit.chunk.lexical_text())) > 0
