"""Quality against denoising steps for the embedding backend, unguided (issue 17, item 4): the curve the default
``steps`` of ``ctrlgen.load("e2e")`` is chosen from. One process, one thread.

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/embedding_steps_curve.py \\
        --out recipes/results/embedding_steps_curve.json

For each ``--steps`` value and each ``--seeds`` seed, ``-n`` unguided samples are drawn in batches of
``--batch-size`` (the default sampler: clamping every step, L2 rounding) and scored with the fluency proxy
(bigram precision against ``train.csv``, :mod:`ctrlgen.oracles.fluency`) and the teacher lm-score (corpus
perplexity under ``e2e-teacher-1``, :mod:`ctrlgen.oracles.teacher`, lower is better), plus well-formedness,
distinct-1/2 and mean length in words. Every step count uses the same seeds, so rows differ only in the steps.
A pooled row per step count (all seeds) carries a 95% bootstrap interval of both measures (resampling texts,
``--bootstrap`` draws, seed 0) and the CPU seconds per sample (``time.process_time``, one thread; the ratio
between rows is what carries over to another machine). About 3 minutes on one free core for the default
arguments. Only numbers go into the JSON: no sample text (the E2E data stays outside the repository).
"""

from __future__ import annotations

import argparse
import math
import random
import shlex
import statistics
import sys
import time

import torch

import ctrlgen
from ctrlgen.evaluation.bench import data_dir, machine, write_json
from ctrlgen.oracles.fluency import _bigrams, distinct_n, well_formed
from ctrlgen.oracles.teacher import Teacher
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words


def per_text(texts: list[str], bigrams: set[tuple[str, str]], teacher: Teacher) -> tuple[list[int], list[int],
                                                                                       list[float], list[int]]:
    """Per text: bigram hits, bigrams, teacher nll (nats, summed) and scored tokens — the pooled measures are
    Σ hits / Σ bigrams and exp(Σ nll / Σ tokens), so any resample of texts can be scored from these."""
    hits, totals = [], []
    for t in texts:
        bg = _bigrams(split_words(t))
        hits.append(sum(b in bigrams for b in bg))
        totals.append(len(bg))
    scores = teacher.nlls(texts)
    return hits, totals, scores.nll.tolist(), scores.tokens.tolist()


def pooled(hits: list[int], totals: list[int], nll: list[float], tokens: list[int],
           idx: list[int] | None = None) -> tuple[float, float]:
    """(bigram precision, teacher perplexity) of the texts at ``idx`` (all when None)."""
    idx = range(len(hits)) if idx is None else idx
    return (sum(hits[i] for i in idx) / max(1, sum(totals[i] for i in idx)),
            math.exp(sum(nll[i] for i in idx) / max(1, sum(tokens[i] for i in idx))))


def bootstrap(stats: tuple[list[int], list[int], list[float], list[float]], draws: int) -> dict[str, list[float]]:
    """95% percentile intervals of (bigram precision, perplexity) over ``draws`` resamples of the texts."""
    rng, n = random.Random(0), len(stats[0])
    bp, ppl = [], []
    for _ in range(draws):
        idx = [rng.randrange(n) for _ in range(n)]
        b, p = pooled(*stats, idx)
        bp.append(b)
        ppl.append(p)
    bp.sort()
    ppl.sort()
    lo, hi = int(0.025 * draws), int(0.975 * draws) - 1
    return {"bigram_ci95": [round(bp[lo], 4), round(bp[hi], 4)], "lm_score_ci95": [round(ppl[lo], 3), round(ppl[hi], 3)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="folder holding e2e/train.csv (default $CTRLGEN_DATA)")
    ap.add_argument("--model", default="e2e")
    ap.add_argument("--teacher", default="e2e-teacher-1")
    ap.add_argument("--steps", default="50,100,200", help="comma-separated step counts")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (each draws -n samples per step count)")
    ap.add_argument("-n", type=int, default=200, help="samples per step count and seed")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--out", default="recipes/results/embedding_steps_curve.json")
    args = ap.parse_args()
    steps = [int(s) for s in args.steps.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    gen = ctrlgen.load(args.model)
    teacher = Teacher.load(args.teacher)
    train = [e.ref for e in read_e2e_csv(data_dir(args.data) / "e2e" / "train.csv", parse_mrs=False)]
    bigrams = {b for t in train for b in _bigrams(split_words(t))}
    gen.generate(n=2, steps=5, seed=0)  # warm-up outside the timing
    rows, curve = [], []
    for s in steps:
        texts_all: list[str] = []
        cpu = 0.0
        for seed in seeds:
            c0 = time.process_time()
            out = gen.generate(n=args.n, steps=s, seed=seed, batch_size=args.batch_size, progress=False)
            sec = time.process_time() - c0
            cpu += sec
            texts_all += out.texts
            stats = per_text(out.texts, bigrams, teacher)
            b, p = pooled(*stats)
            rows.append({"steps": s, "seed": seed, "n": args.n, "bigram": round(b, 4), "lm_score": round(p, 3),
                         "well_formed": round(float(well_formed(out.tokens, gen.tokenizer.vocab).float().mean()), 3),
                         "cpu_s_per_sample": round(sec / args.n, 4)})
            print(f"steps {s:4d} seed {seed}: bigram {b:.4f}  lm {p:.3f}  cpu/sample {sec / args.n:.3f}s", flush=True)
        stats = per_text(texts_all, bigrams, teacher)
        b, p = pooled(*stats)
        lens = [len(split_words(t)) for t in texts_all]
        curve.append({"steps": s, "n": len(texts_all), "bigram": round(b, 4), "lm_score": round(p, 3),
                      **bootstrap(stats, args.bootstrap),
                      "distinct_1": round(distinct_n(texts_all, 1), 4), "distinct_2": round(distinct_n(texts_all, 2), 4),
                      "length_mean": round(statistics.fmean(lens), 2), "cpu_s_per_sample": round(cpu / len(texts_all), 4)})
    base = curve[-1]["cpu_s_per_sample"]
    for c in curve:
        c["cpu_over_last"] = round(c["cpu_s_per_sample"] / base, 3)
        print(f"steps {c['steps']:4d}: bigram {c['bigram']:.4f} {c['bigram_ci95']}  lm {c['lm_score']:.3f} "
              f"{c['lm_score_ci95']}  len {c['length_mean']}  cpu ×{c['cpu_over_last']}", flush=True)
    command = " ".join(["OMP_NUM_THREADS=1 python recipes/embedding_steps_curve.py", *map(shlex.quote, sys.argv[1:])])
    write_json(args.out, {"command": command, "machine": machine(), "model": args.model, "teacher": args.teacher,
                          "batch_size": args.batch_size, "seconds": round(time.perf_counter() - t_start, 1),
                          "curve": curve, "rows": rows})


if __name__ == "__main__":
    main()
