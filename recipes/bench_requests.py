"""Many requests per batch: mixed hard-constraint requests in shared batches vs one unconstrained batch vs one call each.

    python recipes/bench_requests.py --out recipes/results/bench_requests.json

One process, one thread (``torch.set_num_threads(1)``), the bundled ``e2e-sedd`` (discrete backend). Three ways to
make ``--requests`` samples (default 64) with ``--steps`` (default: the backend's, 128 for discrete) and ``--batch-size`` (default 64), interleaved
``--repeats`` times (median seconds, wall-clock and CPU — ``time.process_time``, less moved by other jobs on a shared
machine) so machine load hits all alike:

- *unconstrained*: one ``generate(n=64)`` — the throughput target (issue 17: mixed requests ≥ 0.8× of it);
- *mixed*: ``generate_requests`` with 64 requests of n = 1, each its own constraint set, cycling through ``Length(k)``
  for k = 6…14, four ``Infill`` templates, ``Contains`` phrases and ``Length & Contains`` — one shared batch (by
  default every ``Contains`` request holds one phrase and every ``Length & Contains`` another, so the phrase
  placements repeat 6 contexts, each scored once per call; ``--vary-phrases`` cycles all four phrases through both
  kinds: 20 distinct contexts, which the memo helps far less);
- *one call each*: the same 64 requests as 64 ``generate`` calls (what a user without ``generate_requests`` does).

Prints a table and writes JSON (samples/s and the ratios to *unconstrained*; the share of mixed samples whose
constraints are satisfied, from the reports).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import ctrlgen
from ctrlgen import Contains, Length, Request
from ctrlgen.evaluation.bench import machine, write_json

TEMPLATES = ["The Vaults is a [MASK:3] pub .", "[MASK:2] is a coffee shop near [MASK:2] .",
             "The Punter serves [MASK] food in the [MASK:2] .", "There is a [MASK:4] called Aromi ."]
PHRASES = ["city centre", "family friendly", "Japanese food", "near the river"]


def mixed_requests(count: int, vary_phrases: bool = False) -> list[Request]:
    """``count`` requests of one sample each, every one with its own hard constraint set; ``vary_phrases``: the
    phrase cycles with ``k // 4`` (each kind sees all phrases) instead of ``k`` (one phrase per kind)."""
    out = []
    for k in range(count):
        kind, ph = k % 4, PHRASES[(k // 4 if vary_phrases else k) % len(PHRASES)]
        if kind == 0:
            out.append(Request(Length(6 + k % 9), n=1, id=f"length-{k}"))
        elif kind == 1:
            out.append(Request(infill=TEMPLATES[k % len(TEMPLATES)], n=1, id=f"infill-{k}"))
        elif kind == 2:
            out.append(Request(Contains(ph), n=1, id=f"contains-{k}"))
        else:
            out.append(Request(Length(10 + k % 5) & Contains(ph), n=1, id=f"both-{k}"))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="e2e-sedd")
    p.add_argument("--requests", type=int, default=64)
    p.add_argument("--steps", type=int, default=None, help="default: the backend's default_steps")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--vary-phrases", action="store_true", help="cycle the Contains phrases through both phrase kinds")
    p.add_argument("--out", type=Path, default=Path("recipes/results/bench_requests.json"))
    args = p.parse_args()
    torch.set_num_threads(1)
    gen = ctrlgen.load(args.model)
    args.steps = args.steps or gen.spec.default_steps
    reqs = mixed_requests(args.requests, args.vary_phrases)
    kw = {"steps": args.steps, "batch_size": args.batch_size, "progress": False}
    times: dict[str, list[tuple[float, float]]] = {"unconstrained": [], "mixed": [], "one_call_each": []}  # (wall, CPU)
    satisfied: list[bool] = []

    def timed(way: str, run: Callable[[], Any]) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        out = run()
        times[way].append((time.perf_counter() - t0, time.process_time() - c0))
        return out

    for r in range(args.repeats):
        timed("unconstrained", lambda r=r: gen.generate(n=args.requests, seed=r, **kw))
        outs = timed("mixed", lambda r=r: gen.generate_requests(reqs, seed=r, **kw))
        satisfied += [bool(v) for o in outs for v in o.report.get("satisfied", [True])]
        if r == 0:  # 64 calls: once is enough to see the gap
            timed("one_call_each", lambda r=r: [gen.generate(n=q.n, seed=r, constraints=q.constraint_set(), **kw)
                                            for q in reqs])
    med = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    rows: list[dict[str, Any]] = [{"way": k, "seconds": round(s, 3), "samples_per_s": round(args.requests / s, 3),
                                   "ratio_to_unconstrained": round(med["unconstrained"] / s, 3),
                                   "cpu_seconds": round(cpu[k], 3),
                                   "cpu_ratio_to_unconstrained": round(cpu["unconstrained"] / cpu[k], 3)}
                                  for k, s in med.items()]
    print(f"{'way':16} {'seconds':>8} {'samples/s':>10} {'× unconstrained':>16} {'CPU s':>8} {'CPU ×':>7}")
    for row in rows:
        print(f"{row['way']:16} {row['seconds']:8.2f} {row['samples_per_s']:10.2f} {row['ratio_to_unconstrained']:16.3f} "
              f"{row['cpu_seconds']:8.2f} {row['cpu_ratio_to_unconstrained']:7.3f}")
    rate = sum(satisfied) / len(satisfied)
    print(f"mixed requests satisfied: {rate:.3f} ({len(satisfied)} samples)")
    command = (f"python recipes/bench_requests.py --model {args.model} --requests {args.requests} --steps {args.steps} "
               f"--batch-size {args.batch_size} --repeats {args.repeats}{' --vary-phrases' if args.vary_phrases else ''} "
               f"--out {args.out}")
    write_json(args.out, {"command": command, "machine": machine(), "model": args.model, "rows": rows,
                          "mixed_satisfied": round(rate, 4), "vary_phrases": args.vary_phrases, "kinds": ["Length", "Infill", "Contains", "Length & Contains"]})


if __name__ == "__main__":
    main()
