"""How soon the chat TUI is usable, and how soon it answers, in fresh processes.

    python bench/tui_startup.py [--runs 5]

Each run starts a new process that imports `qa` as the command does, runs the app
headless at 120×40 on the bundled notes, and records when the input has focus, when
the index is open (BM25 answers), when every model is loaded, and how long the first
English and the first Chinese question take to reach their final card. The Chinese one
is sent at once, so the word segmenter is still cold (~1 s to load); typed by hand, it
loads while the question is typed. The target is an input usable within about a second.
"""

from __future__ import annotations

import argparse
import json
import sys

from common import QA, ROOT, machine, percentiles, run_child, save

CHILD = """
import asyncio, json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from qa.cli import main  # what `qa` imports before the app
from qa.settings import Settings
from qa.tui.app import QAApp
from qa.tui.widgets import AnswerCard, HistoryInput

async def run():
    out = {}
    app = QAApp(Path(sys.argv[1]), Path(sys.argv[2]), Settings(), freshness_seconds=0)
    async with app.run_test(size=(120, 40)) as pilot:
        async def until(cond):
            while not cond():
                await pilot.pause(0.005)
        await until(lambda: app.chat.query_one(HistoryInput).has_focus)
        out["input_focused"] = time.perf_counter() - t0
        await until(lambda: app.index.phase == "ready")
        out["index_open"] = time.perf_counter() - t0
        await until(lambda: not app.index.loading_channels)
        out["models_loaded"] = time.perf_counter() - t0
        for name, question in (("answer_en", "what is dropout"),
                               ("answer_zh", "BN在训练和推理时有什么区别")):
            before = len(app.chat.query(AnswerCard))
            start = time.perf_counter()
            app.chat.ask(question)
            def done():
                cards = list(app.chat.query(AnswerCard))
                return len(cards) > before and cards[-1].answer is not None \\
                    and not cards[-1].refining
            await until(done)
            out[name] = time.perf_counter() - start
    print(json.dumps(out))

asyncio.run(run())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    corpus = ROOT / "corpus"
    index = ROOT / "index" / "bench" / "tui"
    run_child([*QA, "build", "--index", str(index)])  # the index exists before timing
    runs: list[dict[str, float]] = []
    for _ in range(args.runs):
        _, _, result = run_child([sys.executable, "-c", CHILD, str(corpus), str(index)])
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    figures = {key: percentiles([r[key] for r in runs]) for key in runs[0]}
    for key, stats in figures.items():
        print(f"{key:>14}: p50 {stats['p50']:.3f} s  max {stats['max']:.3f} s")
    path = save("tui_startup", {"machine": machine(), "runs": args.runs, "seconds": figures})
    print(f"saved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
