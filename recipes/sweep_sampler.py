"""Compare decoding options (clamping, rounding, steps) on one checkpoint: fluency proxy,
well-formedness, copy rate and speed, side by side in one run with the same seed.

    CTRLGEN_DATA=/path/to/data python recipes/sweep_sampler.py --model e2e -n 100 \
        --out recipes/results/sweep_sampler_e2e.json
"""

from __future__ import annotations

import argparse

import torch

from ctrlgen.backends.embedding.generator import EmbeddingGenerator  # noqa: E402
from ctrlgen.evaluation.bench import data_dir, machine, sample_quality, write_json  # noqa: E402
from ctrlgen.oracles.fluency import BigramReference  # noqa: E402
from ctrlgen.text.e2e import read_e2e_csv  # noqa: E402

SETTINGS = {
    "clamp l2 (default)": {"clamp": True, "rounding": "l2"},
    "clamp logits": {"clamp": True, "rounding": "logits"},
    "clamp after 50%": {"clamp": True, "clamp_after": 0.5},
    "no clamp": {"clamp": False},
    "clamp l2, self-cond on clamped x0": {"clamp": True, "self_condition_input": "clamped"},
    "clamp l2, temperature 0.5": {"clamp": True, "temperature": 0.5},
    "clamp l2, temperature 0": {"clamp": True, "temperature": 0.0},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="e2e")
    ap.add_argument("--only", nargs="*", help="setting names to run (default: all)")
    ap.add_argument("--data")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--steps", type=int, nargs="*", default=[200])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="recipes/results/sweep_sampler_e2e.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train = [e.ref for e in read_e2e_csv(data_dir(args.data) / "e2e" / "train.csv", parse_mrs=False)]
    ref = BigramReference(train)
    gen = EmbeddingGenerator.from_pretrained(args.model)
    rows = {}
    for steps in args.steps:
        for name, kw in SETTINGS.items():
            if args.only and name not in args.only:
                continue
            q = sample_quality(gen, train, n=args.n, steps=steps, ref=ref, **kw)
            rows[f"{name} @ {steps} steps"] = q
            print(f"{name:22s} {steps:4d} steps: bigram {q['bigram_precision']:.3f} well-formed {q['well_formed']:.2f} "
                  f"copy {q['copy_rate']:.2f} {q['samples_per_s']:.2f}/s")
    write_json(args.out, {"model": args.model, "machine": machine(), "results": rows})


if __name__ == "__main__":
    main()
