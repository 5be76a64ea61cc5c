"""What buys fluency per CPU-hour? Train short variants of the E2E embedding model with the same
budget and compare the fluency proxy of their samples (and their loss curves).

    CTRLGEN_DATA=/path/to/data python recipes/ablate_embedding.py --steps 3000 --out recipes/results/ablation.json

Each variant = the default config (recipes/configs/e2e_embedding.toml) + overrides, trained for
``--steps`` (cosine schedule over that budget) with 1 thread, then 200 samples at 200 steps.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch

from ctrlgen.backends.embedding.generator import EmbeddingGenerator  # noqa: E402
from ctrlgen.evaluation.bench import data_dir, machine, sample_quality, write_json  # noqa: E402
from ctrlgen.oracles.fluency import BigramReference  # noqa: E402
from ctrlgen.text.e2e import read_e2e_csv  # noqa: E402
from ctrlgen.training.run import build_run, load_run_config  # noqa: E402

VARIANTS: dict[str, dict] = {
    "x0-mse (original)": {"model.self_condition": False},
    "x0-mse + self-cond": {"model.self_condition": True},
    "x0-mse + self-cond + low-noise t": {"model.self_condition": True, "diffusion.t_sampling": "low_noise"},
}
CONFIG = Path(__file__).parent / "configs" / "e2e_embedding.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--runs", default="runs/ablation")
    ap.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    ap.add_argument("--out", default="recipes/results/ablation_embedding.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(1)
    train_csv = data_dir(args.data) / "e2e" / "train.csv"
    texts = [e.ref for e in read_e2e_csv(train_csv, parse_mrs=False)]
    ref = BigramReference(texts)
    results = json.loads(Path(args.out).read_text())["variants"] if Path(args.out).exists() else {}
    for name, ov in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        slug = "".join(c if c.isalnum() else "-" for c in name)
        overrides = {"data.train": str(train_csv), "output_dir": str(Path(args.runs) / slug),
                     "training.steps": args.steps, "training.warmup_steps": min(500, args.steps // 10),
                     "training.threads": 1, "training.checkpoint_every": args.steps, **ov}
        t0 = time.perf_counter()
        final = build_run(load_run_config(CONFIG, overrides)).train(resume=True)
        train_s = time.perf_counter() - t0
        gen = EmbeddingGenerator.from_pretrained(final)
        curve = [json.loads(l) for l in (Path(args.runs) / slug / "log.jsonl").read_text().splitlines()]
        results[name] = {"overrides": ov, "train_steps": args.steps, "train_seconds_this_call": train_s,
                         "quality": sample_quality(gen, texts, ref=ref), "loss_curve": curve}
        write_json(args.out, {"machine": machine(), "config": str(CONFIG.name), "variants": results})


if __name__ == "__main__":
    main()
