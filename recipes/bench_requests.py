"""Many requests per batch: mixed hard-constraint requests in shared batches vs one unconstrained batch vs one call each.

    python recipes/bench_requests.py --out recipes/results/bench_requests.json

One process, one thread (``torch.set_num_threads(1)``), the bundled ``e2e-sedd`` (discrete backend). Three ways to
make ``--requests`` samples (default 64) with ``--steps`` (default: the backend's, 128 for discrete) and ``--batch-size`` (default 64), interleaved
``--repeats`` times (median seconds) so machine load hits all alike:

- *unconstrained*: one ``generate(n=64)`` — the throughput target (issue 17: mixed requests ≥ 0.8× of it);
- *mixed*: ``generate_requests`` with 64 requests of n = 1, each its own constraint set, cycling through ``Length(k)``
  for k = 6…14, four ``Infill`` templates, ``Contains`` phrases and ``Length & Contains`` — one shared batch;
- *one call each*: the same 64 requests as 64 ``generate`` calls (what a user without ``generate_requests`` does).

Prints a table and writes JSON (samples/s and the ratios to *unconstrained*; the share of mixed samples whose
constraints are satisfied, from the reports).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import ctrlgen
from ctrlgen import Contains, Length, Request
from ctrlgen.evaluation.bench import machine, write_json

TEMPLATES = ["The Vaults is a [MASK:3] pub .", "[MASK:2] is a coffee shop near [MASK:2] .",
             "The Punter serves [MASK] food in the [MASK:2] .", "There is a [MASK:4] called Aromi ."]
PHRASES = ["city centre", "family friendly", "Japanese food", "near the river"]


def mixed_requests(count: int) -> list[Request]:
    """``count`` requests of one sample each, every one with its own hard constraint set."""
    out = []
    for k in range(count):
        kind = k % 4
        if kind == 0:
            out.append(Request(Length(6 + k % 9), n=1, id=f"length-{k}"))
        elif kind == 1:
            out.append(Request(infill=TEMPLATES[k % len(TEMPLATES)], n=1, id=f"infill-{k}"))
        elif kind == 2:
            out.append(Request(Contains(PHRASES[k % len(PHRASES)]), n=1, id=f"contains-{k}"))
        else:
            out.append(Request(Length(10 + k % 5) & Contains(PHRASES[k % len(PHRASES)]), n=1, id=f"both-{k}"))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="e2e-sedd")
    p.add_argument("--requests", type=int, default=64)
    p.add_argument("--steps", type=int, default=None, help="default: the backend's default_steps")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("recipes/results/bench_requests.json"))
    args = p.parse_args()
    torch.set_num_threads(1)
    gen = ctrlgen.load(args.model)
    args.steps = args.steps or gen.spec.default_steps
    reqs = mixed_requests(args.requests)
    kw = {"steps": args.steps, "batch_size": args.batch_size, "progress": False}
    times: dict[str, list[float]] = {"unconstrained": [], "mixed": [], "one_call_each": []}
    satisfied: list[bool] = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        gen.generate(n=args.requests, seed=r, **kw)
        times["unconstrained"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        outs = gen.generate_requests(reqs, seed=r, **kw)
        times["mixed"].append(time.perf_counter() - t0)
        satisfied += [bool(v) for o in outs for v in o.report.get("satisfied", [True])]
        if r == 0:  # 64 calls: once is enough to see the gap
            t0 = time.perf_counter()
            for q in reqs:
                gen.generate(n=q.n, seed=r, constraints=q.constraint_set(), **kw)
            times["one_call_each"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows: list[dict[str, Any]] = [{"way": k, "seconds": round(s, 3), "samples_per_s": round(args.requests / s, 3),
                                   "ratio_to_unconstrained": round(med["unconstrained"] / s, 3)}
                                  for k, s in med.items()]
    print(f"{'way':16} {'seconds':>8} {'samples/s':>10} {'× unconstrained':>16}")
    for row in rows:
        print(f"{row['way']:16} {row['seconds']:8.2f} {row['samples_per_s']:10.2f} {row['ratio_to_unconstrained']:16.3f}")
    rate = sum(satisfied) / len(satisfied)
    print(f"mixed requests satisfied: {rate:.3f} ({len(satisfied)} samples)")
    command = (f"python recipes/bench_requests.py --model {args.model} --requests {args.requests} --steps {args.steps} "
               f"--batch-size {args.batch_size} --repeats {args.repeats} --out {args.out}")
    write_json(args.out, {"command": command, "machine": machine(), "model": args.model, "rows": rows,
                          "mixed_satisfied": round(rate, 4), "kinds": ["Length", "Infill", "Contains", "Length & Contains"]})


if __name__ == "__main__":
    main()
