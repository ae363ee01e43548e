"""Which absent name is the question's subject? Rules for ``absent_named``, compared.

    python bench/absent_name_variants.py [--split dev]

For every labelled question of the split (bench/corpora.py's corpora, default settings),
the decline features as qa computes them, and for each named term of the question
(``qa.retrieve.confidence.named_terms``) whether any note mentions it, whether the best
passage (heading and text) does, whether its heading does, and whether it is a glossary
concept. Each rule below rewrites ``absent_named`` (or adds a sixth feature); the model is
refitted as bench/fit_confidence.py fits it, and printed per corpus, fitted and
leave-one-corpus-out: off-topic declined, answerable declined, and answerable declined
among the answerable questions that name something no note mentions (most of them the
tool-named questions of bench/questions/<corpus>.jsonl; "—" when none).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_confidence
from corpora import discover, searcher

from qa.retrieve.confidence import FEATURES, informative_terms, named_terms
from qa.settings import Settings

# One named term: (no note mentions it, best passage has it, its heading has it, glossary)
Named = tuple[bool, bool, bool, bool]
Row = tuple[str, str, str, bool, dict[str, float]]


def collect(split: str) -> list[tuple[Row, list[Named]]]:
    rows = []
    for corpus in discover():
        s = searcher(corpus, Settings())
        lexical = s.index.lexical
        for item in corpus.questions:
            if item.split != split:
                continue
            answer = s.search(item.question, 10)
            named: list[Named] = []
            if lexical is not None and answer.hits and answer.query is not None:
                top = answer.hits[0]
                row = np.array([top.row], dtype=np.int64)
                heading = set(s.tokenizer.tokenize(" ".join(top.chunk.heading_path)))
                informative = informative_terms(
                    answer.query.own_terms,
                    lambda w, lexical=lexical: w in lexical.vocab,
                    s._notes_are_chinese(),
                )
                for term in named_terms(informative, item.question, s.tokenizer.tokenize):
                    found, anywhere = lexical.terms_in([term], row)
                    in_heading = any(heading.issuperset(f) for f in term)
                    named.append((anywhere == 0, bool(found[0]), in_heading, len(term) > 1))
            features = dict(answer.features)
            rows.append(((corpus.name, split, item.lang, item.answerable, features), named))
    return rows


def _parts(named: list[Named]) -> dict[str, bool]:
    present = [n for n in named if not n[0]]
    return {
        "absent": any(n[0] for n in named),
        "concept": any(n[0] and n[3] for n in named),
        "word": any(n[0] and not n[3] for n in named),
        "passage": any(n[1] or n[2] for n in present),
        "heading": any(n[2] for n in present),
    }


Rule = Callable[[dict[str, bool]], float]
RULES: dict[str, Rule] = {
    "every absent name (main)": lambda p: float(p["absent"]),
    "unless another name heads the passage (kept)": lambda p: float(
        p["absent"] and not p["heading"]
    ),
    "unless another name is in the passage": lambda p: float(p["absent"] and not p["passage"]),
    "concepts always, words unless in passage": lambda p: float(
        p["concept"] or (p["word"] and not p["passage"])
    ),
    "concepts unless heading, words unless in passage": lambda p: float(
        (p["concept"] and not p["heading"]) or (p["word"] and not p["passage"])
    ),
}
SIXTH: dict[str, Rule] = {
    "sixth feature: absent and another name heads it": lambda p: float(
        p["absent"] and p["heading"]
    ),
    "sixth feature: absent and another name in passage": lambda p: float(
        p["absent"] and p["passage"]
    ),
}


def rates(model: fit_confidence.ConfidenceModel, rows: list[tuple[Row, bool]]) -> list[float]:
    declined = [(model.probability(r[4], r[2]) < 0.5, r[3], tool) for r, tool in rows]
    off = [d for d, ans, _ in declined if not ans]
    on = [d for d, ans, _ in declined if ans]
    tool = [d for d, ans, t in declined if ans and t]
    return [float(np.mean(x)) if x else float("nan") for x in (off, on, tool)]


def show(values: list[float]) -> str:
    return "/".join("—" if np.isnan(v) else f"{v:.2f}" for v in values)


def report(name: str, rows: list[tuple[Row, bool]], features: tuple[str, ...]) -> None:
    fit_confidence.FEATURES = features  # fit() reads the module's feature list
    plain = [r for r, _ in rows]
    model = fit_confidence.fit(plain)
    print(f"== {name}: weights {dict(model.weights)}")
    means = []
    for corpus in dict.fromkeys(r[0] for r in plain):
        mine = [(r, t) for r, t in rows if r[0] == corpus]
        loco = fit_confidence.fit([r for r in plain if r[0] != corpus])
        left = rates(loco, mine)
        means.append(left)
        print(f"  {corpus:20} fitted {show(rates(model, mine))}  leave-one-out {show(left)}")
    m = np.nanmean(np.array(means), axis=0)
    print(f"  {'LOCO mean':20} {m[0]:.3f}/{m[1]:.3f}/{m[2]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=["dev"])
    args = parser.parse_args()
    collected = collect(args.split)
    print("off-topic declined / answerable declined / answerable naming an absent thing declined")
    for name, rule in RULES.items():
        rows = []
        for row, named in collected:
            parts = _parts(named)
            features = dict(row[4])
            if "absent_named" in features:  # left to its default when qa leaves it out
                features["absent_named"] = rule(parts)
            rows.append(((*row[:4], features), row[3] and parts["absent"]))
        report(name, rows, FEATURES)  # type: ignore[arg-type]
    four = [(r, r[3] and _parts(n)["absent"]) for r, n in collected]
    report("four signals (no absent_named)", four, FEATURES[:4])  # type: ignore[arg-type]
    for name, rule in SIXTH.items():
        rows = []
        for row, named in collected:
            parts = _parts(named)
            features = dict(row[4])
            if "absent_named" in features:
                features.update(absent_named=float(parts["absent"]), sixth=rule(parts))
            rows.append(((*row[:4], features), row[3] and parts["absent"]))
        report(name, rows, (*FEATURES, "sixth"))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
