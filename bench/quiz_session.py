"""A short scripted qa quiz session for `qa quiz --stats`: five days ending now, on the bundled
notes (index/), six new cards a day, every due card reviewed, grades drawn from a hash.

    XDG_STATE_HOME=/tmp/quizstats python bench/quiz_session.py
    XDG_STATE_HOME=/tmp/quizstats python -m qa quiz --stats --png /tmp/quiz_stats.png
"""

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qa.store.index import Index
from qa.study.quiz_store import QuizStore, open_drill, store_path

now = [datetime.now(UTC) - timedelta(days=4, hours=1)]
store = QuizStore(store_path(Path("corpus")), clock=lambda: now[0])
chunks = Index.load(Path("index"), channels=()).chunks
for day in range(5):
    drill = open_drill(store, chunks, new_per_day=6)
    n = 0
    while drill.current is not None and n < 60:
        h = int(hashlib.md5(f"{drill.current.key}{day}{n}".encode()).hexdigest(), 16)
        drill.grade([1, 2, 3, 3, 3, 4, 4][h % 7])
        now[0] += timedelta(minutes=2)
        drill.refresh()
        n += 1
    print(f"day {day}: {n} reviews, counts {drill.counts()}")
    now[0] += timedelta(days=1) - timedelta(minutes=2 * n)
