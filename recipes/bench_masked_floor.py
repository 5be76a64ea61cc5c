"""The masked (LLaDA-style) sampler against its floor: a full ``sample`` versus bare mask-predictor forwards.

    python recipes/bench_masked_floor.py --out recipes/results/bench_masked_floor.json

One process, one thread (``torch.set_num_threads(1)``), the bundled ``e2e-masked`` in eval mode, seed 0. For each
batch size (``--batches``, default 1, 8, 64) and ``--steps`` (16): *floor* = ``steps`` forwards of the mask predictor
on the batch's starting canvas (START, then MASK; outputs dropped as they come, so no memory is held), *sample* =
one ``ctrlgen.backends.masked.sampler.sample`` of that canvas with the call's defaults (low-confidence remasking,
the model's block length, temperature 1, the unconstrained bans of ``conditioning(None)``: ``steps`` forwards),
*generate* = ``gen.generate(n=batch, steps=steps)`` (the sampler plus decoding and the report). The ratios
``sample ÷ floor`` and ``generate ÷ floor`` are the overheads over the network (1.0 is the floor). Times are CPU
seconds (``time.process_time``: the machine is shared, and one thread's CPU time is what load does not inflate),
the median of ``--repeats`` runs interleaved so that load hits every column alike; wall seconds beside them.
Rows are stored under ``--label`` in ``--out`` (other labels already there are kept) and printed as a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import ctrlgen
from ctrlgen.backends.masked.sampler import SamplerConfig, sample
from ctrlgen.evaluation.bench import machine, write_json


def _times(fn: Callable[[], Any]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call."""
    c, w = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c, time.perf_counter() - w


def bench_batch(gen: Any, batch: int, steps: int, repeats: int) -> dict[str, Any]:
    """One row: floor, sample and generate at ``batch``, and their ratios."""
    model = gen.model
    fixed, values, banned = gen.conditioning(None)
    x = torch.where(fixed, values, torch.full_like(values, int(model.mask_id)))[None].expand(batch, -1).clone()
    config = SamplerConfig(block_length=gen.defaults.block_length)

    @torch.no_grad()
    def floor() -> None:
        for _ in range(steps):
            model(x)

    calls = {"floor": floor,
             "sample": lambda: sample(model, x, config, steps, banned=banned, generator=torch.Generator().manual_seed(0)),
             "generate": lambda: gen.generate(n=batch, steps=steps, seed=0, batch_size=batch)}
    for fn in calls.values():
        fn()  # warm-up
    cpu: dict[str, list[float]] = {k: [] for k in calls}
    wall: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for k, fn in calls.items():
            c, w = _times(fn)
            cpu[k].append(c)
            wall[k].append(w)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    row: dict[str, Any] = {"batch": batch, "steps": steps}
    for k in calls:
        row[f"{k}_cpu_s"] = round(med[k], 4)
        row[f"{k}_wall_s"] = round(statistics.median(wall[k]), 4)
    row["sample_over_floor"] = round(med["sample"] / med["floor"], 3)
    row["generate_over_floor"] = round(med["generate"] / med["floor"], 3)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="e2e-masked")
    ap.add_argument("--batches", default="1,8,64")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--label", default="after", help="key of these rows in --out (e.g. before / after)")
    ap.add_argument("--out", default="recipes/results/bench_masked_floor.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = ctrlgen.load(args.model)
    gen.model.eval()
    rows = [bench_batch(gen, int(b), args.steps, args.repeats) for b in args.batches.split(",") if b]
    print(f"{'batch':>5} {'steps':>5} {'floor_cpu_s':>11} {'sample_cpu_s':>12} {'sample/floor':>12} {'generate/floor':>14}")
    for r in rows:
        print(f"{r['batch']:>5} {r['steps']:>5} {r['floor_cpu_s']:>11} {r['sample_cpu_s']:>12} "
              f"{r['sample_over_floor']:>12} {r['generate_over_floor']:>14}")
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    data[args.label] = {"command": f"python recipes/bench_masked_floor.py --batches {args.batches} --steps {args.steps} "
                                   f"--repeats {args.repeats} --label {args.label}",
                        "model": args.model, "machine": machine(), "rows": rows}
    write_json(out, data)


if __name__ == "__main__":
    main()
