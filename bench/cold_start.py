"""Cold one-shot `qa ask` against a naive script, side by side, plus peak memory.

    python bench/cold_start.py [--runs 5] [--qa-only]

The naive script is what people write first: import sentence-transformers, load the same
MiniLM model, encode the question, search the same FAISS vectors. Each run starts a new
process; the two are interleaved so that machine noise hits both alike. The target is
qa ≤ 0.35 × naive wall time, and qa's peak RSS ≤ 700 MB; `--qa-only` skips the naive
script (issue 15's targets: English ≤ 0.5 s, Chinese ≤ 1.2 s). The bundled models' graphs
are written to the user's cache by the build that comes first, so every timed ask loads
them from there.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import sys

from common import QA, ROOT, run_child, save

NAIVE = """
import sys
import faiss
from sentence_transformers import SentenceTransformer
from qa.models.encoders import bundled_minilm_path
from qa.store.index import current_generation
model = SentenceTransformer(str(bundled_minilm_path()), device="cpu")
vector = model.encode([sys.argv[1]], normalize_embeddings=True)
index = faiss.read_index(str(current_generation(sys.argv[2]) / "vectors.minilm.faiss"))
scores, ids = index.search(vector, 5)
print(ids[0].tolist())
"""

# "en (dictionary)": English words outside the glossary send a question to CC-CEDICT
# (qa.lang.dictionary), which a cold ask of "what is dropout" never opens.
QUESTIONS = {
    "en": "what is dropout",
    "en (dictionary)": "why does batch norm help",
    "zh": "BN在训练和推理时有什么区别",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--qa-only", action="store_true", help="time qa ask alone")
    args = parser.parse_args()
    index = ROOT / "index" / "bench" / "cold"
    # A user's Python writes qa's bytecode on its first run; compile it here too, so that a
    # checkout with stale or missing __pycache__ (or PYTHONDONTWRITEBYTECODE=1 in the
    # environment) does not time the compiler.
    compileall.compile_dir(str(ROOT / "qa"), quiet=1)
    run_child([*QA, "build", "--index", str(index)])  # the index exists before timing
    results: dict[str, dict[str, list[float]]] = {}
    for lang, question in QUESTIONS.items():
        naive_cmd = [sys.executable, "-c", NAIVE, question, str(index)]
        qa_cmd = [*QA, "ask", question, "--top", "5", "--no-build", "--index", str(index)]
        times: dict[str, list[float]] = {"naive": [], "qa": [], "qa_rss_mb": []}
        for _ in range(args.runs):
            if not args.qa_only:
                wall, _, _ = run_child(naive_cmd)
                times["naive"].append(wall)
            wall, rss, _ = run_child(qa_cmd)
            times["qa"].append(wall)
            times["qa_rss_mb"].append(rss)
        results[lang] = times
        ours = statistics.median(times["qa"])
        against = ""
        if times["naive"]:
            naive = statistics.median(times["naive"])
            against = f"naive {naive:.2f} s, ratio {ours / naive:.2f} (target ≤ 0.35); "
        print(
            f"{lang}: qa ask {ours:.2f} s (min {min(times['qa']):.2f}); {against}"
            f"qa peak RSS {max(times['qa_rss_mb']):.0f} MB (target ≤ 700)"
        )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    path = save(
        "cold_start",
        {"runs": args.runs, "questions": QUESTIONS, "results": results, "load": load},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
