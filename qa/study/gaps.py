"""What the notes ask but do not answer, and where the answer may already be.

A heading with nothing under it is a question the notes ask (``Chunk.answered`` is
False). For each one ``find_gaps`` looks for

- the sections elsewhere that probably answer it: the normal search
  (``Searcher.search``, the one ranking path) with the heading as the question, which
  only ranks answered sections, so the heading's own place and every other empty
  heading are left out; declined below the confidence threshold, as any question is;
- other empty headings that ask the same thing: the cosine between the two headings'
  vectors in the index (the mean over the dense channels) blended with the share of
  their words they have in common (``duplicate_score``);

A heading many notes share ("Reference", "相关阅读": a slot of the notes' template,
``TEMPLATE_NOTES``) is listed, but neither searched for nor paired as a duplicate: only its
own note can fill it.

And, from the questions asked about this notes folder (``qa.study.history``), those the notes
declined, grouped by topic: what to write next (``cluster_questions``).

The CLI, the TUI's Gaps screen and the benchmark (bench/gaps.py) all read the typed
results returned here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from qa.lang.text import has_chinese, normalise, tokenize
from qa.retrieve.confidence import has_term
from qa.retrieve.search import QuestionError
from qa.store.chunks import Chunk
from qa.study.history import Asked

if TYPE_CHECKING:
    from qa.models.encoders import Encoder
    from qa.retrieve.search import Searcher

CANDIDATES = 3  # candidate answers shown per empty heading
# Two empty headings ask the same thing when DUPLICATE_DENSE * cosine + (1 -
# DUPLICATE_DENSE) * word overlap reaches DUPLICATE_THRESHOLD. Chosen on the labelled
# empty headings of four corpora (bench/gaps.py --sweep, bench/questions/gaps/).
DUPLICATE_DENSE = 0.75
DUPLICATE_THRESHOLD = 0.55
# A heading's number ("Q3.", "5.", "(2)") and a "TODO" mark are not part of its question.
_NUMBER = re.compile(r"^\s*(?:[Qq]?\d+(?:\.\d+)*[.、:：)）]?|[(（]\d+[)）])\s*")
_TODO = re.compile(r"\s*(?:\bTODO\b|\bTBD\b|待补充|待完成|（待续）)\s*", re.IGNORECASE)
_LINK_LABEL = re.compile(r"\[([^\]\n]{1,300})\]\(")
# A chunk whose lines are at least this share of list items made of a link is navigation.
NAVIGATION = 0.5
# A heading left unanswered in at least this many notes ("Reference", "相关阅读", "Index")
# is a slot of the notes' template: it asks for this note's own reading list or contents,
# which no other note answers, and the same slot in two notes is not the same question.
TEMPLATE_NOTES = 3
# Declined questions whose vectors are closer than this cosine distance (average
# linkage) share a topic.
TOPIC_DISTANCE = 0.5


@dataclass(frozen=True)
class Place:
    """Where a heading is: note, 1-based line, heading path."""

    file: str
    line: int
    heading_path: tuple[str, ...]

    @property
    def heading(self) -> str:
        return self.heading_path[-1] if self.heading_path else ""

    def key(self) -> str:
        """``file#heading``, as the labelled gaps name a section."""
        return f"{self.file}#{self.heading}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "heading_path": list(self.heading_path)}


@dataclass(frozen=True)
class CandidateAnswer:
    """A section that probably answers an empty heading."""

    place: Place
    score: float  # the fused score of the search
    chunk: Chunk = field(compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {**self.place.to_json(), "score": round(self.score, 4)}


@dataclass(frozen=True)
class Duplicate:
    """Another empty heading that asks the same thing."""

    place: Place
    similarity: float  # duplicate_score of the pair

    def to_json(self) -> dict[str, Any]:
        return {**self.place.to_json(), "similarity": round(self.similarity, 4)}


@dataclass
class Gap:
    """One empty heading, what may answer it, and its duplicates."""

    place: Place
    chunk: Chunk = field(repr=False)
    question: str  # what was searched
    confidence: float = 0.0  # that the first candidate answers it
    declined: bool = True  # nothing in the notes seems to answer it
    candidates: list[CandidateAnswer] = field(default_factory=list)  # empty when declined
    nearest: list[CandidateAnswer] = field(default_factory=list)  # also when declined
    duplicates: list[Duplicate] = field(default_factory=list)
    about: bool = False  # the first of ``nearest`` is about the heading (``_heads``)
    shared: int = 1  # notes where this heading is unanswered; TEMPLATE_NOTES or more: a slot

    @property
    def template(self) -> bool:
        """A slot of the notes' template (``TEMPLATE_NOTES``): nothing is searched for it."""
        return self.shared >= TEMPLATE_NOTES

    @property
    def slot_note(self) -> str:
        """What every front end says of a template slot."""
        return f"a heading {self.shared} notes share: only this note answers it"

    @property
    def answered_elsewhere(self) -> bool:
        return bool(self.candidates)

    @property
    def placeholder(self) -> str:
        """What stands under the heading instead of an answer ("TODO", a link to read),
        its first line; "" when nothing does."""
        return self.chunk.placeholder

    def to_json(self) -> dict[str, Any]:
        return {
            **self.place.to_json(),
            "heading": self.place.heading,
            "question": self.question,
            "placeholder": self.placeholder,
            "confidence": round(self.confidence, 4),
            # Declined although confident: the section found first is not about it.
            "declined": self.declined,
            "about": self.about,
            "template": self.template,
            "candidates": [c.to_json() for c in self.candidates],
            "duplicates": [d.to_json() for d in self.duplicates],
        }


@dataclass
class Topic:
    """Declined questions about one topic: the most central one names it."""

    label: str
    questions: list[str]

    @property
    def count(self) -> int:
        return len(self.questions)

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "count": self.count, "questions": self.questions}


@dataclass
class GapsReport:
    """Every empty heading of the notes, grouped by note, and the topics to write next."""

    gaps: list[Gap]
    topics: list[Topic] = field(default_factory=list)
    declined_questions: int = 0  # distinct declined questions in the history

    def by_note(self) -> dict[str, list[Gap]]:
        """Gaps per note, notes in name order, gaps in line order."""
        out: dict[str, list[Gap]] = {}
        for gap in sorted(self.gaps, key=lambda g: (g.place.file, g.place.line)):
            out.setdefault(gap.place.file, []).append(gap)
        return out

    @property
    def answered_elsewhere(self) -> int:
        return sum(g.answered_elsewhere for g in self.gaps)

    def to_json(self) -> dict[str, Any]:
        return {
            "count": len(self.gaps),
            "answered_elsewhere": self.answered_elsewhere,
            "notes": [
                {"file": file, "gaps": [g.to_json() for g in gaps]}
                for file, gaps in self.by_note().items()
            ],
            "declined_questions": self.declined_questions,
            "write_next": [t.to_json() for t in self.topics],
        }


# ---------------------------------------------------------------------------- empty headings


def clean_heading(heading: str) -> str:
    """The question a heading asks: without its number or a TODO mark."""
    text = _TODO.sub(" ", _NUMBER.sub("", heading, count=1))
    return " ".join(text.split()) or " ".join(heading.split())


def empty_headings(chunks: Sequence[Chunk]) -> list[tuple[int, Place]]:
    """Every place of every unanswered chunk (row in the index, place), in note order.

    A heading that is empty in several notes under the same heading path is one chunk
    with several places; each place is a gap of its own. A heading without a word in
    it (``---`` read as a heading, ``[]``) asks nothing and is left out."""
    out = []
    for row, chunk in enumerate(chunks):
        if not chunk.asks or not any(ch.isalnum() for ch in chunk.heading):
            continue
        for loc in chunk.locations:
            line = loc.section_line or loc.start_line
            out.append((row, Place(loc.file, line, tuple(loc.heading_path))))
    out.sort(key=lambda rp: (rp[1].file, rp[1].line))
    return out


def gap_question(place: Place) -> str:
    """What is searched for an empty heading: the heading, without number or TODO."""
    return clean_heading(place.heading)


def link_pointers(chunks: Sequence[Chunk]) -> dict[str, list[int]]:
    """Rows of the chunks that link to a heading, by the link's text (normalised): a
    table of contents names every heading of its note, the empty ones too."""
    out: dict[str, list[int]] = {}
    for row, chunk in enumerate(chunks):
        if "](" in chunk.text:
            for label in dict.fromkeys(_LINK_LABEL.findall(chunk.text)):
                out.setdefault(_key(label), []).append(row)
    return out


def heading_notes(chunks: Sequence[Chunk]) -> dict[str, int]:
    """How many notes have each heading (its question, normalised) with no answer under
    it: empty, a placeholder, or only links. (A heading that some notes answer is a
    topic, whatever its name, and is searched for as any other.)"""
    files: dict[str, set[str]] = {}
    for chunk in chunks:
        if chunk.answered:
            continue
        for loc in chunk.locations:
            files.setdefault(_key(clean_heading(loc.heading_path[-1])), set()).add(loc.file)
    return {key: len(found) for key, found in files.items()}


def navigation_rows(chunks: Sequence[Chunk]) -> list[int]:
    """Rows of chunks that are mostly a list of links (a table of contents, a reading
    list): they name a topic, they do not answer it."""
    from qa.retrieve.rerank import text_shape

    return [
        row
        for row, chunk in enumerate(chunks)
        if chunk.answered
        and "](" in chunk.text
        and text_shape(chunk.text).list_link_lines >= NAVIGATION
    ]


def _key(text: str) -> str:
    return normalise(" ".join(text.split()))


class Found(NamedTuple):
    """What a search for an empty heading found (``find_candidates``)."""

    confidence: float
    declined: bool  # below the confidence threshold, or the first section is not about it
    sections: list[CandidateAnswer]
    about: bool  # the first section is about the heading (``_heads``)


def find_candidates(searcher: Searcher, question: str, leave_out: Sequence[int] = ()) -> Found:
    """Confidence, declined, and the best answered sections for ``question`` (at most
    ``CANDIDATES``; only answered sections take part, as in every search, and not the
    rows in ``leave_out``).

    A heading is the whole question, so the section that answers it is one *about* it:
    the best one must name at least half of the heading's topics in its own heading
    path (or its note's name), or the heading is declined. "SVD" is not answered by a
    GloVe section that mentions it, nor "堆的调整（自上而下）" by "数据流中的中位数
    （数据结构：堆）".
    (On the 77 labelled empty headings, bench/gaps.py: precision 0.37 -> 0.62 with the
    neighbours rule, recall 0.88 -> 0.72; any one topic instead of half: 0.55 / 0.72.)"""
    try:
        answer = searcher.search(question, top_k=CANDIDATES, leave_out=leave_out, spans=False)
    except QuestionError:  # a heading of punctuation only
        return Found(0.0, True, [], False)
    found = []
    for hit in answer.hits:
        loc = hit.chunk.location
        place = Place(loc.file, loc.section_line or loc.start_line, tuple(loc.heading_path))
        found.append(CandidateAnswer(place, hit.score, hit.chunk))
    terms = answer.query.terms if answer.query else []
    about = bool(found) and _heads(searcher, found[0].chunk, terms)
    return Found(answer.confidence, answer.declined or not about, found, about)


def _heads(searcher: Searcher, chunk: Chunk, terms: Sequence[set[tuple[str, ...]]]) -> bool:
    """Whether at least half of ``terms`` are in what heads the chunk: its heading path at
    any of its places, and the name of the note (a note without a title heading is
    titled by its file name). A Chinese form counts where its characters are, whatever
    the cut ("二叉树的深度" has 二叉树), and a Chinese word inside another of the question's
    (二叉 in 二叉树) is no topic of its own."""
    heads = [" ".join((Path(loc.file).stem, *loc.heading_path)) for loc in chunk.locations]
    text = normalise(" ".join(heads))
    tokens = set(searcher.tokenizer.tokenize(text))
    topics = _whole_words(terms)

    def named(term: set[tuple[str, ...]]) -> bool:
        return has_term(tokens, term) or any(
            has_chinese(f := "".join(form)) and f in text for form in term
        )

    return bool(topics) and 2 * sum(map(named, topics)) >= len(topics)


def _whole_words(terms: Sequence[set[tuple[str, ...]]]) -> list[set[tuple[str, ...]]]:
    """``terms`` without the Chinese words that are part of another term's Chinese word
    (jieba's search mode adds 二叉 beside 二叉树)."""
    words = {"".join(f) for t in terms for f in t if has_chinese("".join(f))}
    return [
        t
        for t in terms
        if not (
            len(t) == 1
            and has_chinese(w := "".join(next(iter(t))))
            and any(w != other and w in other for other in words)
        )
    ]


def neighbours(chunks: Sequence[Chunk], place: Place) -> list[int]:
    """Rows of the sections next to an empty heading in its own note: under the same
    parent heading (its siblings and what they hold). The author wrote the heading
    beside them because it asks something they do not say: of 44 labelled answers
    elsewhere, 43 are in another note (bench/questions/gaps/). None when they are most
    of the notes (one long note): there is no elsewhere then."""
    parent = place.heading_path[:-1]  # () for a note without a title: the whole note
    rows = [
        row
        for row, chunk in enumerate(chunks)
        if any(
            loc.file == place.file and tuple(loc.heading_path[: len(parent)]) == parent
            for loc in chunk.locations
        )
    ]
    return rows if 2 * len(rows) <= len(chunks) else []


# ---------------------------------------------------------------------------- duplicates


def heading_vectors(searcher: Searcher, headings: Sequence[str]) -> list[np.ndarray]:
    """The headings' vectors, one matrix per dense channel, each measured from the
    index's average passage and normalised.

    The heading alone is embedded, as a question (an English-only model reads a
    Chinese heading in the glossary's English, as in a search). The vector stored in
    the index is not used: it embeds the whole heading path, so two empty siblings of
    one note looked alike (cosine 0.92 to 0.99) whatever they asked."""
    out = []
    for channel in searcher.settings.dense_channels:
        encoder = searcher.encoder(channel)
        texts = list(headings)
        if not encoder.multilingual and searcher.settings.glossary:
            texts = [
                (searcher.glossary.expand(t).english or t) if has_chinese(t) else t for t in texts
            ]
        matrix = np.asarray(encoder.embed_queries(texts), dtype=np.float64)
        centroid = searcher._centroids.get(channel)
        if centroid is not None:
            matrix = matrix - centroid
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        out.append(matrix / np.where(norms > 0, norms, 1.0))
    return out


def word_overlap(a: str, b: str, tokenize: Callable[[str], list[str]] = tokenize) -> float:
    """Jaccard overlap of two headings' words (stemmed, without stop words), numbers
    and TODO marks left out; ``tokenize``: the index's (``Searcher.tokenizer``)."""
    ta, tb = set(tokenize(clean_heading(a))), set(tokenize(clean_heading(b)))
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


def duplicate_score(cosine: float, overlap: float, dense: float = DUPLICATE_DENSE) -> float:
    """How surely two empty headings ask the same thing (0 to 1)."""
    return dense * max(0.0, cosine) + (1 - dense) * overlap


def duplicate_pairs(
    searcher: Searcher, places: Sequence[tuple[int, Place]]
) -> dict[tuple[int, int], float]:
    """``duplicate_score`` of every pair of empty-heading places (by position in
    ``places``). Two places of one chunk are the same heading: score 1."""
    n = len(places)
    if n < 2:
        return {}
    vectors = heading_vectors(searcher, [clean_heading(p.heading) for _, p in places])
    cosine = sum(v @ v.T for v in vectors) / len(vectors) if vectors else np.zeros((n, n))
    cut = searcher.tokenizer.tokenize
    scores = {}
    for i in range(n):
        for j in range(i + 1, n):
            if places[i][0] == places[j][0]:
                scores[(i, j)] = 1.0
                continue
            overlap = word_overlap(places[i][1].heading, places[j][1].heading, cut)
            scores[(i, j)] = duplicate_score(
                float(cosine[i, j]), overlap, DUPLICATE_DENSE if vectors else 0.0
            )
    return scores


# ---------------------------------------------------------------------------- declined questions


def declined_questions(entries: Iterable[Asked]) -> list[str]:
    """Distinct questions the notes declined, in the order first asked; a question
    answered at a later asking no longer counts as declined."""
    last: dict[str, bool] = {}
    first: dict[str, str] = {}
    for entry in entries:
        key = " ".join(entry.question.lower().split())
        if not key or entry.declined is None:
            continue
        first.setdefault(key, " ".join(entry.question.split()))
        last[key] = entry.declined
    return [first[k] for k in first if last[k]]


def question_encoder(searcher: Searcher) -> tuple[str, Encoder] | None:
    """The dense channel and model to compare questions with: a multilingual one when
    there is one."""
    channels = searcher.settings.dense_channels
    if not channels:
        return None
    encoders = [(c, searcher.encoder(c)) for c in channels]
    return next((ce for ce in encoders if ce[1].multilingual), encoders[0])


def question_embedder(searcher: Searcher) -> Callable[[Sequence[str]], np.ndarray] | None:
    """Questions to vectors for ``cluster_questions``: the multilingual model's, with the
    index's average passage vector taken away. e5 finds any two questions about 0.75
    alike; measured from the average passage, questions on one topic stay alike (0.55 to
    0.95) and others fall apart (0.15 to 0.4)."""
    found = question_encoder(searcher)
    if found is None:
        return None
    channel, encoder = found
    centroid = searcher._centroids.get(channel)

    def embed(questions: Sequence[str]) -> np.ndarray:
        vectors = np.asarray(encoder.embed_queries(list(questions)), dtype=np.float64)
        return vectors - centroid if centroid is not None else vectors

    return embed


def cluster_questions(
    questions: Sequence[str],
    embed: Callable[[Sequence[str]], np.ndarray] | None,
    distance: float = TOPIC_DISTANCE,
) -> list[Topic]:
    """Group questions by topic: agglomerative clustering (average linkage) of their
    vectors, cut at cosine distance ``distance``. Each topic is named by its most
    central question (highest mean cosine to the others); largest topics first.
    Without ``embed``, only questions with the same words are grouped."""
    if not questions:
        return []
    if embed is None:
        vectors = _word_vectors(questions)
    else:
        vectors = np.asarray(embed(list(questions)), dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1.0)
    if len(questions) == 1:
        labels = np.array([1])
    else:
        from scipy.cluster.hierarchy import fcluster, linkage

        tree = linkage(vectors, method="average", metric="cosine")
        labels = fcluster(tree, t=distance, criterion="distance")
    topics = []
    for label in dict.fromkeys(labels.tolist()):
        members = [i for i, x in enumerate(labels) if x == label]
        sims = vectors[members] @ vectors[members].T
        central = members[int(np.argmax(sims.sum(axis=1)))]
        topics.append(Topic(questions[central], [questions[i] for i in members]))
    topics.sort(key=lambda t: -t.count)  # stable: first asked first among equals
    return topics


def _word_vectors(questions: Sequence[str]) -> np.ndarray:
    vocab: dict[str, int] = {}
    rows = [sorted(set(tokenize(q))) or [q.lower()] for q in questions]
    for row in rows:
        for word in row:
            vocab.setdefault(word, len(vocab))
    out = np.zeros((len(questions), len(vocab)))
    for i, row in enumerate(rows):
        out[i, [vocab[w] for w in row]] = 1.0
    return out / np.linalg.norm(out, axis=1, keepdims=True)


# ---------------------------------------------------------------------------- all together


def find_gaps(
    searcher: Searcher,
    history: Iterable[Asked] = (),
    duplicate_threshold: float = DUPLICATE_THRESHOLD,
    question_of: Callable[[Place], str] = gap_question,
) -> GapsReport:
    """Every empty heading of the searcher's notes with its candidate answers and
    duplicates, and the declined questions of ``history`` grouped by topic.
    ``question_of``: what is searched for a heading (bench/gaps.py tries others)."""
    places = empty_headings(searcher.index.chunks)
    pointers = link_pointers(searcher.index.chunks)
    navigation = navigation_rows(searcher.index.chunks)
    shared = heading_notes(searcher.index.chunks)
    gaps = []
    # No empty heading (this one, or another asking the same) is evidence that the notes
    # do not answer a gap: the search's asked_first reads the others, not these.
    asking = sorted({row for row, _ in places})
    for row, place in places:
        question = question_of(place)
        notes_with_it = shared.get(_key(clean_heading(place.heading)), 1)
        if notes_with_it >= TEMPLATE_NOTES:
            gaps.append(Gap(place, searcher.index.chunks[row], question, shared=notes_with_it))
            continue
        # A table of contents that links to this heading points at the gap itself.
        leave_out = (
            navigation
            + asking
            + pointers.get(_key(place.heading), [])
            + neighbours(searcher.index.chunks, place)
        )
        found = find_candidates(searcher, question, leave_out)
        gaps.append(
            Gap(
                place,
                searcher.index.chunks[row],
                question,
                found.confidence,
                found.declined,
                [] if found.declined else found.sections,
                found.sections,
                about=found.about,
                shared=notes_with_it,
            )
        )
    for (i, j), score in duplicate_pairs(searcher, places).items():
        if score >= duplicate_threshold and not (gaps[i].template or gaps[j].template):
            gaps[i].duplicates.append(Duplicate(places[j][1], score))
            gaps[j].duplicates.append(Duplicate(places[i][1], score))
    for gap in gaps:
        gap.duplicates.sort(key=lambda d: -d.similarity)
    asked = declined_questions(history)
    embed = question_embedder(searcher) if asked else None
    return GapsReport(gaps, cluster_questions(asked, embed), len(asked))


def markdown_report(report: GapsReport, corpus: Path) -> str:
    """The report as a Markdown checklist: one box per empty heading, by note."""
    lines = [
        f"# Gaps in {corpus.name or corpus}",
        "",
        f"{len(report.gaps)} headings ask a question with nothing under them; "
        f"{report.answered_elsewhere} may be answered elsewhere in the notes.",
        "",
    ]
    for file, gaps in report.by_note().items():
        lines += [f"## {file}", ""]
        for gap in gaps:
            path = " › ".join(gap.place.heading_path)
            where = f"{file}:{gap.place.line}"
            lines.append(f"- [ ] **{_md(gap.place.heading)}** ({where}, {_md(path)})")
            if gap.placeholder:
                lines.append(f"  - noted: {_md(gap.placeholder)}")
            if gap.candidates:
                for c in gap.candidates:
                    where = f"{c.place.file}:{c.place.line}"
                    lines.append(
                        f"  - maybe answered in {where} {_md(' › '.join(c.place.heading_path))}"
                        f" (confidence {gap.confidence:.2f})"
                    )
            elif gap.template:
                lines.append(f"  - {gap.slot_note}")
            else:
                lines.append("  - nothing in your notes yet")
            for d in gap.duplicates:
                lines.append(
                    f"  - same question as {d.place.file}:{d.place.line} {_md(d.place.heading)}"
                )
        lines.append("")
    if report.topics:
        lines += ["## What to write next", "", "Questions asked here that the notes declined:", ""]
        for topic in report.topics:
            lines.append(f"- [ ] {_md(topic.label)} ({_questions(topic.count)})")
        lines.append("")
    return "\n".join(lines)


def _questions(n: int) -> str:
    return "1 question" if n == 1 else f"{n} questions"


def _md(text: str) -> str:
    """Text from a note, kept from turning into Markdown structure in the report."""
    return " ".join(text.split()).replace("[", "\\[").replace("]", "\\]").replace("*", "\\*")
