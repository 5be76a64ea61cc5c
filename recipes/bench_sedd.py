"""Quality/speed curve of the discrete (SEDD) backend: unconditional samples versus sampling steps.

    CTRLGEN_DATA=/path/to/data python recipes/bench_sedd.py --model e2e-sedd \
        --out recipes/results/bench_sedd_steps.json

For each predictor (analytic, Euler) and each number of steps (16, 32, 64, 128, 256): ``-n`` samples
(seed 0) → teacher lm-score (``e2e-teacher-1``), bigram precision against the training references (the
teacher-free fluency proxy), distinct-1/2, copy rate, well-formed share, mean length and seconds per 50
samples. ``--checkpoints DIR`` instead scores every ``DIR/checkpoints/step-*`` at one setting (a training
curve). Threads: ``--threads`` (default 1; the numbers in the results file say which).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from ctrlgen.backends.discrete.generator import DiscreteGenerator  # noqa: E402
from ctrlgen.backends.discrete.sampler import SEDDSampler  # noqa: E402
from ctrlgen.evaluation.bench import data_dir, machine, write_json  # noqa: E402
from ctrlgen.oracles.fluency import BigramReference, distinct_n, well_formed  # noqa: E402
from ctrlgen.oracles.teacher import Teacher  # noqa: E402
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words  # noqa: E402


def measure(gen: DiscreteGenerator, sampler: SEDDSampler, n: int, ref: BigramReference,
            teacher: Teacher | None) -> dict:
    t0 = time.perf_counter()
    out = gen.generate(n=n, seed=0, sampler=sampler)
    secs = time.perf_counter() - t0
    texts = out.texts
    return {"predictor": sampler.predictor, "steps": sampler.steps, "n": n,
            "lm_score": teacher.score(texts) if teacher else None,
            "bigram_precision": ref.precision(texts), "copy_rate": ref.copy_rate(texts),
            "well_formed": float(well_formed(out.tokens, gen.tokenizer.vocab).float().mean()),
            "distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2),
            "length_mean": statistics.mean(len(split_words(t)) for t in texts),
            "seconds_per_50": secs / n * 50, "examples": texts[:5]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="e2e-sedd", help="bundled name or checkpoint directory")
    ap.add_argument("--checkpoints", help="a training output_dir: score each checkpoint instead (one setting)")
    ap.add_argument("--teacher", default="e2e-teacher-1")
    ap.add_argument("--data")
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--steps", default="16,32,64,128,256")
    ap.add_argument("--predictors", default="analytic,euler")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="recipes/results/bench_sedd_steps.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train = [e.ref for e in read_e2e_csv(data_dir(args.data) / "e2e" / "train.csv", parse_mrs=False)]
    ref = BigramReference(train)
    teacher = Teacher.load(args.teacher)
    steps = [int(s) for s in args.steps.split(",")]
    rows = []
    if args.checkpoints:
        for ck in sorted((Path(args.checkpoints) / "checkpoints").glob("step-*")):
            row = measure(DiscreteGenerator.from_pretrained(ck), SEDDSampler(steps=steps[0]), args.n, ref, teacher)
            rows.append({"checkpoint": ck.name, **row})
            print(f"{ck.name}: bigram {row['bigram_precision']:.3f} lm-score {row['lm_score']:.2f}", flush=True)
    else:
        gen = DiscreteGenerator.from_pretrained(args.model)
        for predictor in args.predictors.split(","):
            for k in steps:
                row = measure(gen, SEDDSampler(steps=k, predictor=predictor), args.n, ref, teacher)
                rows.append(row)
                print(f"{predictor:8s} {k:4d} steps: lm-score {row['lm_score']:.2f} bigram {row['bigram_precision']:.3f}"
                      f" distinct-2 {row['distinct_2']:.3f} {row['seconds_per_50']:.1f} s/50", flush=True)
    write_json(args.out, {"model": args.model, "checkpoints": args.checkpoints, "machine": machine(), "seed": 0,
                          "teacher": {"name": teacher.name, "fingerprint": teacher.fingerprint}, "rows": rows})


if __name__ == "__main__":
    main()
