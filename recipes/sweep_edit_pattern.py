"""Sweep the draft settings of the edit backend's pattern path (``POS`` on ``generate --backend edit``): the
label lexicon's share, the drafts' nucleus, the fluency weight of the draft ranking and the number of drafts.
Each setting runs the same POS targets (tags of evenly spread valid.csv references, spaCy oracle) with the
same seed; it reports POS match, bigram precision against train.csv and seconds per sample.

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/sweep_edit_pattern.py --targets 8 -n 2 \
        --out recipes/results/sweep_edit_pattern.json

The defaults (``LEXICON_SHARE``, ``DRAFT_FLUENCY`` in :mod:`ctrlgen.backends.edit.guides`; ``DRAFT_TOP_P``,
``PATTERN_DRAFTS`` in :mod:`ctrlgen.backends.edit.generator`) are the first setting.
"""

from __future__ import annotations

import argparse
import time

import torch

import ctrlgen  # noqa: E402
import ctrlgen.backends.edit.generator as edit_backend  # noqa: E402
import ctrlgen.backends.edit.guides as edit_guides  # noqa: E402
from ctrlgen.constraints.pos import POS  # noqa: E402
from ctrlgen.evaluation.bench import data_dir, machine, write_json  # noqa: E402
from ctrlgen.oracles.fluency import BigramReference  # noqa: E402
from ctrlgen.oracles.metrics import pos_match  # noqa: E402
from ctrlgen.oracles.pos import pos_tags  # noqa: E402
from ctrlgen.text.e2e import read_e2e_csv  # noqa: E402

DEFAULTS = {"LEXICON_SHARE": 0.3, "DRAFT_TOP_P": 0.9, "DRAFT_FLUENCY": 0.3, "PATTERN_DRAFTS": 128}
SETTINGS = {
    "default": {},
    "share 0.1": {"LEXICON_SHARE": 0.1},
    "top_p 1.0": {"DRAFT_TOP_P": 1.0},
    "draft fluency 0": {"DRAFT_FLUENCY": 0.0},
    "draft fluency 1": {"DRAFT_FLUENCY": 1.0},
    "32 drafts": {"PATTERN_DRAFTS": 32},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="e2e-edit")
    ap.add_argument("--data")
    ap.add_argument("--targets", type=int, default=8)
    ap.add_argument("-n", type=int, default=2, help="texts per target")
    ap.add_argument("--only", nargs="*", help="setting names to run (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="recipes/results/sweep_edit_pattern.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = data_dir(args.data) / "e2e"
    refs = [e.ref for e in read_e2e_csv(data / "valid.csv", parse_mrs=False)]
    bigrams = BigramReference(e.ref for e in read_e2e_csv(data / "train.csv", parse_mrs=False))
    step = max(1, len(refs) // args.targets)
    targets = pos_tags(refs[::step][:args.targets])
    gen = ctrlgen.load(args.model)
    gen.proposer(gen.prepare(POS(targets[0])))  # probe the drafts once, outside the timings
    rows = {}
    for name, overrides in SETTINGS.items():
        if args.only and name not in args.only:
            continue
        for key, value in {**DEFAULTS, **overrides}.items():
            setattr(edit_guides if hasattr(edit_guides, key) else edit_backend, key, value)
        gen._lexicons.clear()  # the lexicon depends on LEXICON_SHARE
        gen.proposer(gen.prepare(POS(targets[0])))
        texts, match, t0 = [], [], time.perf_counter()
        for tags in targets:
            out = gen.generate(n=args.n, constraints=POS(tags), seed=0)
            texts += out.texts
            match += [pos_match(p, tags) for p in pos_tags(out.texts)]
        seconds = time.perf_counter() - t0
        rows[name] = {"settings": {**DEFAULTS, **overrides}, "pos_match": 100 * sum(match) / len(match),
                      "bigram_precision": bigrams.precision(texts), "s_per_sample": seconds / len(texts),
                      "examples": texts[:4]}
        print(f"{name:18s} POS {rows[name]['pos_match']:.1f}  bigram {rows[name]['bigram_precision']:.3f}  "
              f"{rows[name]['s_per_sample']:.2f} s/sample", flush=True)
    write_json(args.out, {"recipe": "recipes/sweep_edit_pattern.py", "model": args.model, "machine": machine(),
                          "targets": args.targets, "n": args.n, "seed": 0, "results": rows})


if __name__ == "__main__":
    main()
