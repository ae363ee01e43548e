"""How qa grows: synthetic notes at 1k, 10k and 100k sections.

    python bench/scale.py generate --sections 10000 --out /tmp/notes-10k
    python bench/scale.py run --sizes 1000 10000 100000
    python bench/scale.py report          # table + bench/results/scale.png

`generate` writes deterministic Markdown notes (English with some Chinese sections and
some unanswered headings, built from the glossary's terms) and a file of questions.
`run` builds each size with `qa build` in a new process (wall time, peak RSS), measures
the index size on disk and warm query latency in another process, and stores the
figures in bench/results/scale.json (sizes already measured are kept).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

from common import QA, RESULTS, ROOT, machine, run_child

from qa.presets import BUILTIN

SECTIONS_PER_NOTE = 50
TEMPLATES_EN = [
    "{a} is closely related to {b}; in interviews, explain how {a} changes {c}.",
    "When {a} is too large, {b} usually suffers, so tune {c} on a validation set.",
    "A common mistake is to confuse {a} with {b}. Remember that {c} depends on {a}.",
    "{a} helps with {b} but costs {c}; compare it with {d} before choosing.",
]
TEMPLATES_ZH = [
    "{a}和{b}密切相关，面试时要说明{a}如何影响{c}。",
    "如果{a}太大，{b}往往会变差，所以要在验证集上调{c}。",
    "常见的错误是把{a}和{b}混淆，要记住{c}取决于{a}。",
]


def generate(sections: int, out: Path, seed: int = 0) -> Path:
    """Write `sections` sections of synthetic notes under `out`; return the questions file."""
    from qa.lang.glossary import load_glossary

    rng = random.Random(seed)
    concepts = [c for c in load_glossary().concepts if c.kind == "term"]
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    questions = []
    for n in range(0, sections, SECTIONS_PER_NOTE):
        lines = [f"# Synthetic notes {n // SECTIONS_PER_NOTE}", ""]
        for k in range(min(SECTIONS_PER_NOTE, sections - n)):
            topic = rng.choice(concepts)
            others = rng.sample(concepts, 4)
            chinese = rng.random() < 0.15
            level = "##" if k % 5 == 0 else "###"
            title = topic.chinese[0] if chinese else topic.english[0]
            lines += [f"{level} {title} ({n + k})", ""]
            if rng.random() < 0.1:
                continue  # an unanswered heading
            forms = [(c.chinese[0] if chinese else c.english[0]) for c in [topic, *others]]
            keys = dict(zip("abcd", forms, strict=False))
            templates = TEMPLATES_ZH if chinese else TEMPLATES_EN
            body = " ".join(rng.choice(templates).format(**keys) for _ in range(rng.randint(2, 4)))
            lines += [body, ""]
            if rng.random() < 0.02:
                ask = (
                    f"{topic.chinese[0]}是什么"
                    if rng.random() < 0.5
                    else f"what is {topic.english[0]}"
                )
                questions.append(
                    {
                        "question": ask,
                        "relevant": [],
                        "lang": "zh" if ask.endswith("是什么") else "en",
                    }
                )
        (out / f"note-{n // SECTIONS_PER_NOTE:05d}.md").write_text(
            "\n".join(lines), encoding="utf-8"
        )
    qfile = out.parent / f"{out.name}-questions.jsonl"
    qfile.write_text(
        "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions[:400]), encoding="utf-8"
    )
    return qfile


def dir_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def build_command(notes: Path, index: Path, preset: str) -> list[str]:
    """`qa build` for the default settings; other presets go through the same build_index."""
    if preset == "default":
        return [*QA, "build", "--corpus", str(notes), "--index", str(index)]
    code = (
        "import sys; from pathlib import Path; from qa.store.index import build_index; "
        "from qa.presets import BUILTIN; "
        "build_index(Path(sys.argv[1]), Path(sys.argv[2]), BUILTIN[sys.argv[3]])"
    )
    return [sys.executable, "-c", code, str(notes), str(index), preset]


def run(sizes: list[int], work: Path, preset: str) -> None:
    path = RESULTS / "scale.json"
    data = json.loads(path.read_text()) if path.exists() else {"sizes": {}}
    for size in sizes:
        key = str(size) if preset == "default" else f"{size}:{preset}"
        notes = work / f"notes-{size}"
        index = work / f"index-{key.replace(':', '-')}"
        qfile = generate(size, notes)
        if index.exists():
            shutil.rmtree(index)
        print(f"[{key}] building…", flush=True)
        build_s, build_rss, result = run_child(build_command(notes, index, preset))
        print(f"[{key}] " + result.stdout.strip().replace("\n", " "), flush=True)
        _, query_rss, result = run_child(
            [
                sys.executable,
                str(ROOT / "bench" / "query_latency.py"),
                "--corpus",
                str(notes),
                "--index",
                str(index),
                "--questions",
                str(qfile),
                "--rounds",
                "3",
                "--name",
                f"query_latency_{key.replace(':', '_')}",
                "--preset",
                preset,
            ]
        )
        latency = json.loads((RESULTS / f"query_latency_{key.replace(':', '_')}.json").read_text())
        data["sizes"][key] = {
            "sections": size,
            "channels": " + ".join(BUILTIN[preset].channels),
            "build_s": build_s,
            "build_peak_rss_mb": build_rss,
            "index_mb": dir_size_mb(index),
            "query_peak_rss_mb": query_rss,
            "latency_ms": latency["latency_ms"]["all"],
        }
        data["machine"] = machine()
        path.write_text(json.dumps(data, indent=1) + "\n")
        print(f"[{key}] {json.dumps(data['sizes'][key])}", flush=True)


def report() -> None:
    data = json.loads((RESULTS / "scale.json").read_text())
    default_channels = " + ".join(BUILTIN["default"].channels)
    rows_data = sorted(
        (
            int(d.get("sections", key.split(":")[0])),
            d.get("channels", default_channels),
            d,
        )
        for key, d in data["sizes"].items()
    )
    rows = [
        "| sections | channels | build | index on disk | build peak RSS | query peak RSS | "
        "query p50 | query p95 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size, channels, d in rows_data:
        rows.append(
            f"| {size:,} | {channels} | {d['build_s']:.0f} s | {d['index_mb']:.1f} MB | "
            f"{d['build_peak_rss_mb']:.0f} MB | {d['query_peak_rss_mb']:.0f} MB | "
            f"{d['latency_ms']['p50']:.1f} ms | {d['latency_ms']['p95']:.1f} ms |"
        )
    table = "\n".join(rows)
    print(table)
    (RESULTS / "scale.md").write_text(table + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6), dpi=100)
    for channels in sorted({c for _, c, _ in rows_data}):
        part = [(size, d) for size, c, d in rows_data if c == channels]
        xs = [size for size, _ in part]
        series = [
            ("build time (s)", [d["build_s"] for _, d in part]),
            ("index on disk (MB)", [d["index_mb"] for _, d in part]),
            ("query peak RSS (MB)", [d["query_peak_rss_mb"] for _, d in part]),
            ("query p95 (ms)", [d["latency_ms"]["p95"] for _, d in part]),
        ]
        for ax, (title, ys) in zip(axes, series, strict=True):
            ax.plot(xs, ys, marker="o", label=channels)
            ax.set_title(title)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("sections")
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"qa at scale — {data['machine']['cores']} cores, {data['machine']['cpu']}")
    fig.tight_layout()
    fig.savefig(RESULTS / "scale.png")
    print(f"wrote {RESULTS / 'scale.md'} and {RESULTS / 'scale.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--sections", type=int, required=True)
    g.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run")
    r.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    r.add_argument("--work", type=Path, default=ROOT / "index" / "bench" / "scale")
    r.add_argument(
        "--preset", default="default", choices=sorted(BUILTIN), help="channels and fusion"
    )
    sub.add_parser("report")
    args = parser.parse_args()
    if args.command == "generate":
        print(generate(args.sections, args.out))
    elif args.command == "run":
        run(args.sizes, args.work, args.preset)
    else:
        report()


if __name__ == "__main__":
    main()
