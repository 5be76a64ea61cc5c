"""Seconds for 50 controlled samples drawn in one batch (200 steps), unguided vs guided, per task.

    CTRLGEN_DATA=... OMP_NUM_THREADS=1 python recipes/control_timing.py --tasks tree,spans

The target is the first of the task's seeded ``valid.csv`` targets (as in ``recipes/control_table.py``);
guidance uses the task's default settings. Wall and CPU seconds on ``--threads`` threads; writes
``recipes/results/control_timing.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import ctrlgen
from ctrlgen.evaluation.bench import build_targets, data_dir, machine, time_fifty, write_json
from ctrlgen.oracles.bundle import Oracles


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="semantic,pos,tree,spans")
    ap.add_argument("--data", help="folder holding e2e/valid.csv (default $CTRLGEN_DATA)")
    ap.add_argument("--model", default="e2e")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "control_timing.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen, oracles = ctrlgen.load(args.model), Oracles()
    valid = data_dir(args.data) / "e2e" / "valid.csv"
    out = {"recipe": "recipes/control_timing.py", "command": "python recipes/control_timing.py " + " ".join(sys.argv[1:]),
           "model": args.model, "machine": machine(), "tasks": {}}
    for task in [t for t in args.tasks.split(",") if t]:
        target = build_targets(task, valid, 15, 0, gen.model.config.seq_len, oracles)[0]
        out["tasks"][task] = time_fifty(gen, target, task, args.steps, 0)
        print(task, out["tasks"][task]["no-control"], out["tasks"][task]["guided"], flush=True)
    write_json(args.out, out)


if __name__ == "__main__":
    main()
