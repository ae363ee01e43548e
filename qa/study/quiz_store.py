"""Review state for ``qa quiz``: one SQLite file per notes folder, scheduled with FSRS.

The file is ``qa.places.state_dir(corpus) / "quiz.sqlite"`` (standard library sqlite3,
WAL journal, ``synchronous=FULL``). Each grade is one transaction, committed before the
caller moves on, so a process killed at any moment (kill -9) loses no graded review.

Tables: ``meta`` (schema version, settings such as whether generated fronts are used),
``scheduler`` (the FSRS parameters), ``cards`` (one row per card, its FSRS state as
JSON, whether it is suspended, changed or retired) and ``reviews`` (the review log).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fsrs import Card, Rating, Scheduler

from qa import places
from qa.study.quiz import Clock, QuizCard, Section, asked_card, in_paths, utc_now

SCHEMA_VERSION = 1
FILE_NAME = "quiz.sqlite"
RATINGS = {1: "again", 2: "hard", 3: "good", 4: "easy"}
NEW_PER_DAY = 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scheduler (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    parameters TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cards (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    file TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    line INTEGER NOT NULL,
    front TEXT NOT NULL,
    lang TEXT NOT NULL,
    generated INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT 'notes',
    content_hash TEXT NOT NULL,
    suspended INTEGER NOT NULL DEFAULT 0,
    retired INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0,
    fsrs TEXT,
    due REAL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    card INTEGER NOT NULL REFERENCES cards(id),
    rating INTEGER NOT NULL,
    reviewed_at REAL NOT NULL,
    due_after REAL NOT NULL,
    log TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_by_card ON reviews(card);
"""


class QuizStoreError(Exception):
    """The review file cannot be used; the message says why and where."""


def store_path(corpus: Path) -> Path:
    return places.state_dir(corpus) / FILE_NAME


@dataclass(frozen=True)
class SyncReport:
    added: int = 0
    changed: int = 0
    retired: int = 0
    revived: int = 0


@dataclass(frozen=True)
class Counts:
    due: int  # reviews due by the end of today
    new: int  # new cards still to be introduced today
    done: int  # reviews given today


@dataclass(frozen=True)
class Review:
    card: str
    rating: int
    due: datetime  # when the card is due next


@dataclass
class QuizStats:
    days: list[tuple[str, int, int]]  # (date, reviews, of which "again")
    reviews: int
    retention: float | None  # share of repeat reviews not graded "again"
    per_note: list[tuple[str, int, int, int]]  # (file, cards, new, due today)
    forgotten: list[tuple[str, str, int, int, int]]  # (front, file, line, again, reviews)
    cards: int = 0
    retired: int = 0
    suspended: int = 0


@dataclass
class _Row:
    id: int
    key: str
    file: str
    heading_path: tuple[str, ...]
    line: int
    front: str
    source: str
    content_hash: str
    suspended: bool
    retired: bool
    changed: bool
    fsrs: dict[str, Any] | None
    due: float | None
    generated: bool = False

    @classmethod
    def of(cls, row: sqlite3.Row) -> _Row:
        return cls(
            id=row["id"],
            key=row["key"],
            file=row["file"],
            heading_path=tuple(json.loads(row["heading_path"])),
            line=row["line"],
            front=row["front"],
            source=row["source"],
            content_hash=row["content_hash"],
            suspended=bool(row["suspended"]),
            retired=bool(row["retired"]),
            changed=bool(row["changed"]),
            fsrs=json.loads(row["fsrs"]) if row["fsrs"] else None,
            due=row["due"],
            generated=bool(row["generated"]),
        )


class QuizStore:
    """The review file of one notes folder."""

    def __init__(self, path: Path, clock: Clock = utc_now) -> None:
        self.path = Path(path)
        self.clock = clock
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=5)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            with self._tx():
                for statement in _SCHEMA.split(";"):  # executescript would commit
                    if statement.strip():
                        self.db.execute(statement)
                version = self._meta("schema_version")
                if version is None:
                    self._set_meta("schema_version", str(SCHEMA_VERSION))
                elif version != str(SCHEMA_VERSION):
                    raise QuizStoreError(
                        f"{self.path} was written by another version of qa "
                        f"(schema {version}, this qa reads {SCHEMA_VERSION})"
                    )
                if self.db.execute("SELECT 1 FROM scheduler").fetchone() is None:
                    self.db.execute(
                        "INSERT INTO scheduler (id, parameters) VALUES (1, ?)",
                        (Scheduler().to_json(),),
                    )
            params = self.db.execute("SELECT parameters FROM scheduler").fetchone()[0]
            self.scheduler = Scheduler.from_json(params)
        except sqlite3.DatabaseError as err:
            raise QuizStoreError(f"cannot use the review file {self.path}: {err}") from None
        except (ValueError, KeyError, TypeError) as err:
            raise QuizStoreError(f"the review file {self.path} is damaged ({err})") from None

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        """One transaction, committed when the block ends (rolled back on an error)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -------------------------------------------------------------- settings

    @property
    def use_generated(self) -> bool:
        """Whether cards with generated fronts are drilled (on unless turned off)."""
        return self._meta("generated") != "0"

    def set_use_generated(self, on: bool) -> None:
        with self._tx():
            self._set_meta("generated", "1" if on else "0")

    # -------------------------------------------------------------- cards

    def rows(self) -> dict[str, _Row]:
        return {r["key"]: _Row.of(r) for r in self.db.execute("SELECT * FROM cards ORDER BY id")}

    def sync(self, cards: Sequence[QuizCard]) -> SyncReport:
        """Make the stored cards follow the notes, in one transaction: new cards are
        added, a card whose text changed is marked changed and due now, a card whose
        section is gone retires (kept, not shown), one that comes back is revived."""
        now = self.clock().timestamp()
        added = changed = retired = revived = 0
        with self._tx():
            rows = self.rows()
            for card in cards:
                row = rows.get(card.key)
                if row is None:
                    self._insert(card, now)
                    added += 1
                    continue
                updates: dict[str, Any] = {
                    "line": card.line,
                    "front": card.front,
                    "lang": card.lang,
                    "generated": int(card.generated),
                }
                if row.retired:
                    updates["retired"] = 0
                    revived += 1
                if row.content_hash != card.content_hash:
                    updates["content_hash"] = card.content_hash
                    if row.fsrs is not None:  # a new card that changed is still new
                        updates["changed"] = 1
                        updates["due"] = now
                        updates["fsrs"] = json.dumps({**row.fsrs, "due": _iso(now)})
                    changed += 1
                sets = ", ".join(f"{k} = ?" for k in updates)
                self.db.execute(
                    f"UPDATE cards SET {sets} WHERE id = ?", (*updates.values(), row.id)
                )
            present = {c.key for c in cards}
            for key, row in rows.items():
                if key not in present and not row.retired:
                    self.db.execute("UPDATE cards SET retired = 1 WHERE id = ?", (row.id,))
                    retired += 1
        return SyncReport(added, changed, retired, revived)

    def _insert(self, card: QuizCard, now: float) -> None:
        self.db.execute(
            "INSERT INTO cards (key, file, heading_path, line, front, lang, generated, source,"
            " content_hash, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                card.key,
                card.file,
                json.dumps(list(card.section.heading_path), ensure_ascii=False),
                card.line,
                card.front,
                card.lang,
                int(card.generated),
                card.source,
                card.content_hash,
                now,
            ),
        )

    def add_asked(self, question: str, section: Section) -> tuple[QuizCard, bool]:
        """Keep a question the user asked as a card; False when it already was one."""
        card = asked_card(question, section)
        with self._tx():
            exists = self.db.execute("SELECT 1 FROM cards WHERE key = ?", (card.key,)).fetchone()
            if exists is None:
                self._insert(card, self.clock().timestamp())
        return card, exists is None

    def asked_cards(self, sections: dict[tuple[str, tuple[str, ...]], Section]) -> list[QuizCard]:
        """The questions the user added, with their sections as they are now (those
        whose section is gone are left out, and retire at the next sync)."""
        out = []
        for row in self.rows().values():
            if row.source != "asked":
                continue
            section = sections.get((row.file, row.heading_path))
            if section is not None:
                out.append(asked_card(row.front, section))
        return out

    def suspend(self, key: str) -> None:
        with self._tx():
            self.db.execute("UPDATE cards SET suspended = 1 WHERE key = ?", (key,))

    # -------------------------------------------------------------- reviews

    def grade(self, key: str, rating: int) -> Review:
        """Schedule the card with FSRS and log the review, committed before returning."""
        if rating not in RATINGS:
            raise ValueError(f"a grade is 1 (again) to 4 (easy), not {rating!r}")
        now = self.clock()
        with self._tx():
            found = self.db.execute("SELECT * FROM cards WHERE key = ?", (key,)).fetchone()
            if found is None:
                raise KeyError(key)
            row = _Row.of(found)
            card = Card.from_dict(row.fsrs) if row.fsrs else Card(card_id=row.id, due=now)  # type: ignore[arg-type]
            card, log = self.scheduler.review_card(card, Rating(rating), review_datetime=now)
            due = card.due.timestamp()
            self.db.execute(
                "UPDATE cards SET fsrs = ?, due = ?, changed = 0 WHERE id = ?",
                (json.dumps(card.to_dict()), due, row.id),
            )
            self.db.execute(
                "INSERT INTO reviews (card, rating, reviewed_at, due_after, log)"
                " VALUES (?, ?, ?, ?, ?)",
                (row.id, rating, now.timestamp(), due, json.dumps(log.to_dict())),
            )
        return Review(key, rating, card.due)

    def reviews(self) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT * FROM reviews ORDER BY id"))

    def first_reviews(self) -> dict[int, float]:
        """Each reviewed card's first review time."""
        return {
            r[0]: r[1]
            for r in self.db.execute("SELECT card, MIN(reviewed_at) FROM reviews GROUP BY card")
        }

    # -------------------------------------------------------------- stats

    def stats(self, days: int = 14, top: int = 10) -> QuizStats:
        """Reviews per day, retention, cards per note and the cards most often forgotten."""
        now = self.clock()
        start, _ = day_bounds(now)
        rows = {r.id: r for r in self.rows().values()}
        per_day: dict[str, list[int]] = {}
        for n in range(days - 1, -1, -1):
            per_day[(start - timedelta(days=n)).date().isoformat()] = [0, 0]
        seen: set[int] = set()
        repeat = kept = 0
        again: dict[int, int] = {}
        count: dict[int, int] = {}
        reviews = self.reviews()
        for r in reviews:
            day = datetime.fromtimestamp(r["reviewed_at"], UTC).astimezone().date().isoformat()
            if day in per_day:
                per_day[day][0] += 1
                per_day[day][1] += r["rating"] == 1
            if r["card"] in seen:
                repeat += 1
                kept += r["rating"] > 1
            seen.add(r["card"])
            count[r["card"]] = count.get(r["card"], 0) + 1
            again[r["card"]] = again.get(r["card"], 0) + (r["rating"] == 1)
        _, end = day_bounds(now)
        notes: dict[str, list[int]] = {}
        for row in rows.values():
            if row.retired or row.suspended:
                continue
            entry = notes.setdefault(row.file, [0, 0, 0])
            entry[0] += 1
            entry[1] += row.fsrs is None
            entry[2] += row.due is not None and row.fsrs is not None and row.due <= end.timestamp()
        forgotten = sorted(
            (c for c in again if again[c]), key=lambda c: (-again[c], -count[c], rows[c].key)
        )[:top]
        return QuizStats(
            days=[(d, v[0], v[1]) for d, v in per_day.items()],
            reviews=len(reviews),
            retention=kept / repeat if repeat else None,
            per_note=sorted((f, *v) for f, v in notes.items()),  # type: ignore[misc]
            forgotten=[
                (rows[c].front, rows[c].file, rows[c].line, again[c], count[c]) for c in forgotten
            ],
            cards=sum(not r.retired for r in rows.values()),
            retired=sum(r.retired for r in rows.values()),
            suspended=sum(r.suspended and not r.retired for r in rows.values()),
        )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The start and end of ``now``'s day, in the local time zone."""
    local = now.astimezone()
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


# ---------------------------------------------------------------------------- a drill session


@dataclass
class Drill:
    """One drill session: which card to show next, grades, skips and suspensions.

    ``cards`` are every card of the notes (and the questions the user added); the
    filters pick the ones drilled now. Skips last for this session only."""

    store: QuizStore
    cards: list[QuizCard]
    paths: Sequence[str] = ()
    lang: str | None = None
    new_per_day: int = NEW_PER_DAY
    generated: bool = True
    skipped: set[str] = field(default_factory=set)
    current: QuizCard | None = None

    def __post_init__(self) -> None:
        self.refresh()

    @property
    def clock(self) -> Clock:
        return self.store.clock

    def selected(self) -> list[QuizCard]:
        """The cards the filters keep (suspended and retired cards included)."""
        return [
            c
            for c in self.cards
            if in_paths(c, self.paths)
            and (self.lang is None or c.lang in (self.lang, "both"))
            and (self.generated or not c.generated)
        ]

    def _state(self) -> tuple[list[tuple[QuizCard, _Row]], dict[int, float]]:
        rows = self.store.rows()
        pairs = [
            (c, rows[c.key])
            for c in self.selected()
            if c.key in rows and not rows[c.key].suspended and not rows[c.key].retired
        ]
        return pairs, self.store.first_reviews()

    def _new_left(self, pairs: list[tuple[QuizCard, _Row]], first: dict[int, float]) -> int:
        start, _ = day_bounds(self.clock())
        ids = {row.id for _, row in pairs}
        started_today = sum(1 for cid, t in first.items() if cid in ids and t >= start.timestamp())
        return max(0, self.new_per_day - started_today)

    def refresh(self) -> QuizCard | None:
        """Pick the card to show: the most overdue review, else a new card while today's
        allowance lasts; None when nothing is due now."""
        pairs, first = self._state()
        now = self.clock().timestamp()
        due = sorted(
            (row.due, n, c)
            for n, (c, row) in enumerate(pairs)
            if row.fsrs is not None
            and row.due is not None
            and row.due <= now
            and c.key not in self.skipped
        )
        if due:
            self.current = due[0][2]
            return self.current
        if self._new_left(pairs, first) > 0:
            # The notes' own questions first, then generated fronts, in note order.
            for c, row in sorted(pairs, key=lambda pair: pair[0].generated):
                if row.fsrs is None and c.key not in self.skipped:
                    self.current = c
                    return c
        self.current = None
        return None

    def counts(self) -> Counts:
        pairs, first = self._state()
        start, end = day_bounds(self.clock())
        due = sum(
            1
            for _, row in pairs
            if row.fsrs is not None and row.due is not None and row.due < end.timestamp()
        )
        new = min(self._new_left(pairs, first), sum(1 for _, row in pairs if row.fsrs is None))
        ids = {row.id for _, row in pairs}
        done = sum(
            1
            for r in self.store.reviews()
            if r["card"] in ids and r["reviewed_at"] >= start.timestamp()
        )
        return Counts(due, new, done)

    def next_due(self) -> datetime | None:
        """When the next card is due, when nothing is due now."""
        pairs, first = self._state()
        now = self.clock()
        times = [row.due for _, row in pairs if row.fsrs is not None and row.due is not None]
        later = [t for t in times if t > now.timestamp()]
        best = min(later) if later else None
        if any(row.fsrs is None for _, row in pairs) and self._new_left(pairs, first) == 0:
            tomorrow = day_bounds(now)[1].timestamp()
            best = tomorrow if best is None else min(best, tomorrow)
        return None if best is None else datetime.fromtimestamp(best, UTC)

    def is_changed(self, card: QuizCard) -> bool:
        row = self.store.rows().get(card.key)
        return bool(row and row.changed)

    def grade(self, rating: int) -> Review | None:
        if self.current is None:
            return None
        review = self.store.grade(self.current.key, rating)
        self.refresh()
        return review

    def skip(self) -> None:
        if self.current is not None:
            self.skipped.add(self.current.key)
        self.refresh()

    def suspend(self) -> None:
        if self.current is not None:
            self.store.suspend(self.current.key)
        self.refresh()


def open_drill(
    store: QuizStore,
    chunks: Sequence[Any],
    *,
    paths: Sequence[str] = (),
    lang: str | None = None,
    new_per_day: int = NEW_PER_DAY,
    generated: bool | None = None,
) -> Drill:
    """Cards from the index's chunks, synced into the store, as a drill session.
    ``generated``: None uses the store's setting; True/False also stores it."""
    from qa.study.quiz import cards_from_sections, sections_of

    sections = sections_of(chunks)
    by_path = {(s.file, s.heading_path): s for s in sections}
    cards = cards_from_sections(sections)
    cards += store.asked_cards(by_path)
    store.sync(cards)
    if generated is not None and generated != store.use_generated:
        store.set_use_generated(generated)
    return Drill(
        store,
        cards,
        paths,
        lang,
        new_per_day,
        store.use_generated if generated is None else generated,
    )


def add_question(store: QuizStore, question: str, chunks: Sequence[Any], chunk: Any) -> QuizCard:
    """Keep ``question`` as a card whose back is the whole section of ``chunk``;
    ValueError when that section has no text."""
    from qa.study.quiz import section_of

    loc = chunk.location
    section = section_of(chunks, loc.file, loc.section_line or loc.start_line)
    if section is None:
        raise ValueError("that answer's section has no text to drill")
    card, _ = store.add_asked(question, section)
    return card
