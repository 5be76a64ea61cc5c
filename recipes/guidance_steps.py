"""The embedding backend's guidance step at the model's default step count (issue 17): scaled to the measured
trajectory length (``GuidanceConfig()``, ``reference_steps=100``) vs the same step unscaled (``reference_steps=None``)
vs Diffusion-LM's original ``GuidanceConfig.full()``, on the control table's targets, one run, 1 thread.

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/guidance_steps.py --steps 200 \\
        --out recipes/results/guidance_steps.json

Per task (``--tasks``; ``--targets`` targets of ``build_targets`` with seed 0, ``-n`` samples each, seed = target
index) and row: control success (semantic / spans: the check face; POS word match and tree F1: the constraint's
score), bigram precision against ``train.csv``, teacher lm-score (``e2e-teacher-1``) and CPU seconds per target;
the ``unguided`` row (step 0: no classifier pass) is the cost every guided row is compared with.
Each task's fluency weight λ is Diffusion-LM's (``ctrlgen.evaluation.guided.TASK_FLUENCY``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

import ctrlgen
from ctrlgen import GuidanceConfig
from ctrlgen.evaluation.bench import build_targets, data_dir, machine, write_json
from ctrlgen.evaluation.guided import TASK_FLUENCY, constraints_for
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.oracles.teacher import Teacher
from ctrlgen.text.e2e import read_e2e_csv

ROWS = {"unguided": lambda lam: GuidanceConfig(step_size=0.0),
        "default (scaled)": lambda lam: GuidanceConfig(fluency_weight=lam),
        "unscaled": lambda lam: GuidanceConfig(fluency_weight=lam, reference_steps=None),
        "full()": lambda lam: GuidanceConfig.full(fluency_weight=lam)}
SCORED = ("pos", "tree")  # success is the constraint's score (word match / F1); the others: satisfied


def run_row(gen: Any, targets: list, task: str, config: GuidanceConfig, n: int, steps: int, ref: BigramReference,
            teacher: Teacher) -> dict:
    texts: list[str] = []
    success: list[float] = []
    cpu = 0.0
    for k, target in enumerate(targets):
        c = constraints_for(target)
        t0 = time.process_time()
        out = gen.generate(n=n, steps=steps, seed=k, constraints=c, guidance=config)
        cpu += time.process_time() - t0
        texts += out.texts
        rep = out.report["constraints"][repr(c)]
        success += [float(x) for x in (rep["scores"] if task in SCORED else rep["satisfied"])]
    return {"success": round(100 * sum(success) / len(success), 1), "bigram_precision": round(ref.precision(texts), 3),
            "lm_score": round(teacher.score(texts), 2), "cpu_seconds_per_target": round(cpu / len(targets), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--tasks", default="semantic,pos,tree,spans")
    ap.add_argument("--targets", type=int, default=6)
    ap.add_argument("-n", type=int, default=4)
    ap.add_argument("--rows", default=",".join(ROWS), help=f"of {','.join(ROWS)}")
    ap.add_argument("--out", default="recipes/results/guidance_steps.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    d = data_dir(args.data) / "e2e"
    gen, oracles = ctrlgen.load("e2e"), Oracles()
    ref = BigramReference([e.ref for e in read_e2e_csv(d / "train.csv", parse_mrs=False)])
    teacher = Teacher.load("e2e-teacher-1")
    results: dict[str, dict] = {}
    for task in args.tasks.split(","):
        targets = build_targets(task, d / "valid.csv", args.targets, 0, gen.model.config.seq_len, oracles)
        lam = TASK_FLUENCY[task]
        for row in args.rows.split(","):
            results.setdefault(task, {})[row] = run_row(gen, targets, task, ROWS[row](lam), args.n, args.steps, ref,
                                                        teacher)
            print(task, row, results[task][row], flush=True)
    write_json(args.out, {"recipe": "recipes/guidance_steps.py", "machine": machine(), "steps": args.steps,
                          "targets": args.targets, "n": args.n, "teacher": "e2e-teacher-1",
                          "data": "targets from e2e/valid.csv, bigrams from e2e/train.csv", "results": results})


if __name__ == "__main__":
    main()
