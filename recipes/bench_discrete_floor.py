"""The discrete (SEDD) sampler against its floor: a full ``SEDDSampler.sample`` versus bare score-model forwards.

    python recipes/bench_discrete_floor.py --label after --out recipes/results/bench_discrete_floor.json

One process, one thread (``torch.set_num_threads(1)``), the bundled ``e2e-sedd`` in eval mode. For each batch
size (1, 8, 64, 256) and ``--steps`` (64): *bare* = ``steps`` forwards of the score model on a representative
x_t (half of the positions MASK, σ̄ at t = 0.5), *sample* = one ``SEDDSampler(steps, predictor, dtype).sample``
(plus its denoise step, one more forward) for each predictor and each sampler dtype in ``--dtypes``; the ratio
is sample / bare (the sampler's overhead over the network; 1.0 is the floor). Every time is the median of
``--repeats`` (3), runs interleaved so that machine load hits both sides alike. The rows are stored under
``--label`` in ``--out`` (other labels already there, e.g. "before", are kept) and printed as a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from ctrlgen.backends.discrete.generator import DiscreteGenerator
from ctrlgen.backends.discrete.sampler import DTYPES, SEDDSampler
from ctrlgen.evaluation.bench import machine, write_json


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_batch(gen: DiscreteGenerator, batch: int, steps: int, predictors: list[str], dtypes: list[str],
                repeats: int) -> list[dict[str, Any]]:
    """Rows ``{batch, predictor, dtype, bare_s, sample_s, ratio}`` for one batch size."""
    model, diffusion = gen.model, gen.diffusion
    L, mask = model.config.seq_len, gen.tokenizer.vocab.mask_id
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, model.config.vocab_size, (batch, L), generator=g)
    x = torch.where(torch.rand(batch, L, generator=g) < 0.5, torch.full_like(x, mask), x)
    sigma = diffusion.noise(torch.full((batch,), 0.5))[0]

    @torch.no_grad()
    def bare() -> None:
        for _ in range(steps):
            model(x, sigma)

    samplers = {(p, d): SEDDSampler(steps=steps, predictor=p, dtype=d) for p in predictors for d in dtypes}  # type: ignore[arg-type]
    bare()  # warm-up
    times: dict[Any, list[float]] = {"bare": [], **{k: [] for k in samplers}}
    for r in range(repeats):
        times["bare"].append(_timed(bare))
        for k, s in samplers.items():
            times[k].append(_timed(lambda s=s: s.sample(model, diffusion, batch, None, torch.Generator().manual_seed(r))))
    bare_s = statistics.median(times["bare"])
    return [{"batch": batch, "steps": steps, "predictor": p, "dtype": d, "bare_s": round(bare_s, 4),
             "sample_s": round(statistics.median(times[(p, d)]), 4),
             "ratio": round(statistics.median(times[(p, d)]) / bare_s, 3)} for (p, d) in samplers]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="e2e-sedd")
    ap.add_argument("--batches", default="1,8,64,256")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--predictors", default="analytic,euler")
    ap.add_argument("--dtypes", default=None, help="sampler dtypes (default: the sampler's default dtype)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--label", default="after", help="key of these rows in --out (e.g. before / after)")
    ap.add_argument("--out", default="recipes/results/bench_discrete_floor.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = DiscreteGenerator.from_pretrained(args.model)
    gen.model.eval()
    dtypes = args.dtypes.split(",") if args.dtypes else [SEDDSampler().dtype]
    assert all(d in DTYPES for d in dtypes), dtypes
    rows: list[dict[str, Any]] = []
    print(f"{'batch':>5} {'predictor':>9} {'dtype':>8} {'bare s':>8} {'sample s':>9} {'ratio':>6}")
    for b in map(int, args.batches.split(",")):
        for row in bench_batch(gen, b, args.steps, args.predictors.split(","), dtypes, args.repeats):
            rows.append(row)
            print(f"{row['batch']:>5} {row['predictor']:>9} {row['dtype']:>8} {row['bare_s']:>8.3f} "
                  f"{row['sample_s']:>9.3f} {row['ratio']:>6.2f}", flush=True)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    results[args.label] = {"command": "python recipes/bench_discrete_floor.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "machine": machine(), "default_dtype": SEDDSampler().dtype, "rows": rows}
    write_json(out, results)


if __name__ == "__main__":
    main()
