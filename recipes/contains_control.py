"""``Contains(phrase)`` on all three backends, side by side in one run: success, bigram precision, seconds per call.

    CTRLGEN_DATA=... python recipes/contains_control.py -n 8

For each of ten in-vocabulary phrases of 1–3 words (common ones such as "coffee shop" and rare ones such as
"Italian food", 1 in 5 000 training references), ``n`` samples per variant:

- ``embedding/hard`` (``e2e``, ``--emb-steps``): the phrase placed per sample by the model's x̂0 at full noise and
  its embeddings clamped at every step (the default face);
- ``embedding/soft`` (``e2e``): ``Contains(phrase, face="soft")``, classifier-free gradient guidance only;
- ``discrete/hard`` (``e2e-sedd``, ``--sedd-steps``): placement by the chain-rule likelihood, exact conditioning;
- ``edit/generate`` (``e2e-edit``): AR drafts ranked by the check face, then revised;
- ``edit/edit``: ``edit(SOURCE, Contains(phrase))`` of one fixed sentence without the phrase (``n`` = 1 per phrase).

Success is the check face (the phrase occurs as whole words); bigram precision is against ``train.csv``
(``BigramReference``, as ``bench.sample_quality``), pooled over a variant's texts; each backend's no-control row
draws ``plain·n`` unconstrained samples with the same settings (its bigram precision, and how often each phrase
occurs without control). Writes ``recipes/results/contains_control.json``.
"""

from __future__ import annotations

import argparse
import collections
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import ctrlgen
from ctrlgen.evaluation.bench import data_dir, machine, write_json
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words

RESULTS = Path(__file__).parent / "results"
PHRASES = ["Japanese", "city centre", "family friendly", "near the river", "coffee shop", "high customer rating",
           "Italian food", "The Eagle", "Chinese restaurant", "English pub"]
SOURCE = "The Mill is a pub that serves French food . It is not family-friendly ."  # edit/edit's text
MODELS = {"embedding": "e2e", "discrete": "e2e-sedd", "edit": "e2e-edit"}


def starts(text: str, phrase: str) -> int | None:
    """1-based word index of the phrase's first occurrence, or None."""
    w, p = split_words(text), split_words(phrase)
    return next((k + 1 for k in range(len(w) - len(p) + 1) if w[k:k + len(p)] == p), None)


def run_variant(name: str, call: Any, ref: BigramReference | None) -> dict[str, Any]:
    """Every phrase through ``call(phrase) -> GenerationOutput``: per-phrase rows and the variant's summary."""
    rows, texts = [], []
    for phrase in PHRASES:
        t0 = time.perf_counter()
        out = call(phrase)
        secs = time.perf_counter() - t0
        ok = [starts(t, phrase) is not None for t in out.texts]
        texts += out.texts
        rows.append({"phrase": phrase, "success": sum(ok) / len(ok), "seconds": round(secs, 2),
                     "start_word": [starts(t, phrase) for t in out.texts],
                     "bigram_precision": ref.precision(out.texts) if ref else None,
                     "well_formed": sum(out.report["well_formed"]) / len(ok), "examples": out.texts[:2]})
        print(f"{name} {phrase!r}: success {rows[-1]['success']:.2f} {secs:.1f}s  {out.texts[0]!r}", flush=True)
    hist = collections.Counter(s for r in rows for s in r["start_word"] if s is not None)
    summary = {"success": statistics.mean(r["success"] for r in rows),
               "phrases_at_100": sum(r["success"] == 1.0 for r in rows),
               "bigram_precision": ref.precision(texts) if ref else None,
               "well_formed": statistics.mean(r["well_formed"] for r in rows),
               "seconds_per_call": statistics.mean(r["seconds"] for r in rows),
               "distinct_start_words": len(hist)}
    return {"summary": summary, "rows": rows}


def no_control(gen: Any, n: int, ref: BigramReference | None, **kw: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    out = gen.generate(n=n, **kw)
    return {"n": n, "seconds": round(time.perf_counter() - t0, 2),
            "bigram_precision": ref.precision(out.texts) if ref else None,
            "well_formed": sum(out.report["well_formed"]) / n,
            "phrase_rate": {p: sum(starts(t, p) is not None for t in out.texts) / n for p in PHRASES}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="folder holding e2e/train.csv (default $CTRLGEN_DATA); without it no bigram precision")
    ap.add_argument("--backends", default="embedding,discrete,edit")
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--emb-steps", type=int, default=50)
    ap.add_argument("--sedd-steps", type=int, default=64)
    ap.add_argument("--plain", type=int, default=4, help="no-control rows draw plain·n samples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "contains_control.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    ref = None
    try:
        ref = BigramReference(e.ref for e in read_e2e_csv(data_dir(args.data) / "e2e" / "train.csv"))
    except SystemExit as e:
        print(f"no bigram precision: {e}")
    n, seed, result = args.n, args.seed, {}
    for backend in args.backends.split(","):
        gen = ctrlgen.load(MODELS[backend])
        steps = {"embedding": args.emb_steps, "discrete": args.sedd_steps}.get(backend)
        kw = {"steps": steps, "seed": seed}
        gen.generate(n=2, steps=2, seed=0)  # warm-up (budget probe, lazy imports, the edit backend's draft model)
        variants: dict[str, Any] = {}
        if backend == "edit":
            variants["edit/generate"] = lambda p, g=gen: g.generate(n=n, seed=seed, constraints=ctrlgen.Contains(p))
            variants["edit/edit"] = lambda p, g=gen: g.edit(SOURCE, constraints=ctrlgen.Contains(p), seed=seed)
        else:
            variants[f"{backend}/hard"] = lambda p, g=gen, k=kw: g.generate(n=n, constraints=ctrlgen.Contains(p), **k)
        if backend == "embedding":
            variants["embedding/soft"] = lambda p, g=gen, k=kw: g.generate(
                n=n, constraints=ctrlgen.Contains(p, face="soft"), **k)
        result[backend] = {"model": MODELS[backend], "steps": steps,
                           "no_control": no_control(gen, args.plain * n, ref, **kw),
                           "variants": {name: run_variant(name, call, ref) for name, call in variants.items()}}
    table = {name: v["summary"] for r in result.values() for name, v in r["variants"].items()}
    table.update({f"{b}/no-control": {"bigram_precision": r["no_control"]["bigram_precision"],
                                      "phrase_rate": statistics.mean(r["no_control"]["phrase_rate"].values())}
                  for b, r in result.items()})
    for name, row in table.items():
        print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
    write_json(args.out, {"n": n, "seed": seed, "phrases": PHRASES, "edit_source": SOURCE, "machine": machine(),
                          "summary": table, "backends": result})


if __name__ == "__main__":
    main()
