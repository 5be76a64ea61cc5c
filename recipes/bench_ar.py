"""Benchmark an AR LM checkpoint (the edit backend's draft model) on E2E and write JSON.

    CTRLGEN_DATA=/path/to/data python recipes/bench_ar.py --model e2e-ar-draft \
        --teacher e2e-teacher-1 --out recipes/results/bench_ar_draft.json

200 samples (seed 0, temperature 1, top-p 1): bigram precision against the training references,
copy rate, distinct-1/2, length, teacher lm-score, samples/s.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ctrlgen.evaluation.bench import data_dir, machine, write_json  # noqa: E402
from ctrlgen.models.ar_lm import ARLM
from ctrlgen.models.assets import resolve_model_path  # noqa: E402
from ctrlgen.models.pretrained import load_pretrained  # noqa: E402
from ctrlgen.oracles.fluency import BigramReference, distinct_n, well_formed  # noqa: E402
from ctrlgen.oracles.teacher import Teacher  # noqa: E402
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="e2e-ar-draft")
    ap.add_argument("--teacher", default="e2e-teacher-1")
    ap.add_argument("--data")
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="recipes/results/bench_ar_draft.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train = [e.ref for e in read_e2e_csv(data_dir(args.data) / "e2e" / "train.csv", parse_mrs=False)]
    ref = BigramReference(train)
    model, tok, _ = load_pretrained(resolve_model_path(args.model), ARLM)
    t0 = time.perf_counter()
    ids = model.sample(args.n, torch.Generator().manual_seed(0))
    secs = time.perf_counter() - t0
    texts = tok.decode_batch(ids)
    teacher = Teacher.load(args.teacher)
    lens = [len(split_words(t)) for t in texts]
    res = {"model": args.model, "machine": machine(), "n": args.n, "seed": 0,
           "bigram_precision": ref.precision(texts), "copy_rate": ref.copy_rate(texts),
           "well_formed": float(well_formed(ids, tok.vocab).float().mean()),
           "distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2),
           "length_mean": statistics.mean(lens), "samples_per_s": args.n / secs,
           "teacher": {"name": teacher.name, "fingerprint": teacher.fingerprint, "lm_score": teacher.score(texts)},
           "examples": texts[:10]}
    print(f"bigram {res['bigram_precision']:.3f} copy {res['copy_rate']:.3f} lm-score {res['teacher']['lm_score']:.2f} "
          f"{res['samples_per_s']:.1f}/s")
    write_json(args.out, res)


if __name__ == "__main__":
    main()
