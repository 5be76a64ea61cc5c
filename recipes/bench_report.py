"""How often a report runs its oracles: sentences tagged / parsed and CPU time of ``satisfied`` vs one ``check``.

```bash
python recipes/bench_report.py --out recipes/results/bench_report.json
```

Data: texts sampled once from the bundled ``e2e`` model (seed 0, 50 steps), 16 and 64 of them. Constraints:
``POS`` (spaCy oracle) and ``SyntaxTree`` (bundled benepar parser oracle), each prepared for the embedding
backend. For each, one process and one thread, side by side: ``check(texts)`` (one pass of every leaf's check
face), ``satisfied(texts)`` and ``score(texts)``, each measured *cold* (the oracle memos of
:mod:`ctrlgen.oracles.memo` emptied before the call, so the count is what one call costs), and ``satisfied``
once more *warm*, right after a ``check`` of the same texts (the labels are shared: nothing is recomputed).
Counts are sentences the oracle model actually labels (a wrapper around the tagger's ``docs`` and the parser's
``_parse_batch``, below the memo), so ``tagged / texts`` = 1.0 means once per text (less when texts repeat).
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path
from typing import Any

import torch

COUNTS = {"tagged": 0, "parsed": 0}


def _module(*names: str) -> Any:
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(names)


def _instrument() -> None:
    pos = _module("ctrlgen.oracles.pos", "ctrlgen.evaluation.pos")
    parser = _module("ctrlgen.oracles.parser", "ctrlgen.evaluation.parser")
    docs, parse = pos.POSTagger.docs, parser.ConstituencyParser._parse_batch

    def counted_docs(self: Any, sentences: Any) -> Any:
        sentences = list(sentences)
        COUNTS["tagged"] += len(sentences)
        return docs(self, sentences)

    def counted_parse(self: Any, sentences: Any, *a: Any, **kw: Any) -> Any:
        sentences = list(sentences)
        COUNTS["parsed"] += len(sentences)
        return parse(self, sentences, *a, **kw)

    pos.POSTagger.docs = counted_docs
    parser.ConstituencyParser._parse_batch = counted_parse


def _clear_memos() -> None:
    try:
        from ctrlgen.oracles.memo import clear_memos
    except ImportError:  # before the oracle memo existed
        return
    clear_memos()


def _measure(fn: Any, cold: bool = True) -> dict[str, float]:
    if cold:
        _clear_memos()
    before = dict(COUNTS)
    t0 = time.process_time()
    fn()
    return {"cpu_s": round(time.process_time() - t0, 4),
            **{k: COUNTS[k] - before[k] for k in COUNTS}}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="16,64")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    import ctrlgen
    from ctrlgen import POS, SyntaxTree

    _instrument()
    gen = ctrlgen.load("e2e")
    sizes = [int(s) for s in args.sizes.split(",")]
    texts_all = gen.generate(n=max(sizes), steps=50, seed=0).texts
    constraints = {"POS": POS("PROPN,AUX,DET,ADJ,NOUN,ADP,DET,NOUN,PUNCT"),
                   "SyntaxTree": SyntaxTree("(S (NP (NNP The) (NNP Vaults)) (VP (VBZ is) (NP (DT a) (NN pub))) (. .))")}
    rows = []
    for name, c in constraints.items():
        prepared = gen.prepare(c)
        prepared.check(texts_all[:2])  # load the oracle outside the timing
        for n in sizes:
            texts = texts_all[:n]
            row: dict[str, Any] = {"constraint": name, "texts": n}
            for what in ("check", "satisfied", "score"):
                row[what] = _measure(lambda p=prepared, w=what, t=texts: getattr(p, w)(t))
            row["unique_texts"] = len(set(texts))
            prepared.check(texts)  # the report's check, then ranking asks again
            row["satisfied_after_check"] = _measure(lambda p=prepared, t=texts: p.satisfied(t), cold=False)
            key = "tagged" if name == "POS" else "parsed"
            row["satisfied_over_check_cpu"] = round(row["satisfied"]["cpu_s"] / max(row["check"]["cpu_s"], 1e-9), 2)
            row["oracle_sentences_per_text_in_satisfied"] = row["satisfied"][key] / n
            rows.append(row)
            print(f"{name:<10} n={n:<3} check {row['check']['cpu_s']:.3f}s ({row['check'][key]} sentences) | "
                  f"satisfied {row['satisfied']['cpu_s']:.3f}s ({row['satisfied'][key]} sentences, "
                  f"{row['satisfied_over_check_cpu']}x check) | score {row['score']['cpu_s']:.3f}s "
                  f"({row['score'][key]} sentences) | satisfied after check {row['satisfied_after_check'][key]} "
                  f"sentences ({row['unique_texts']} unique texts)")
    res = {"machine": "1 thread", "model": "e2e", "rows": rows}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
