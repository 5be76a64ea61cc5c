"""What guidance costs on the embedding backend, and what it buys (issue 17, item 3): one process, one thread.

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/bench_guidance_cost.py \\
        --out recipes/results/bench_guidance_cost.json

For each task (``--tasks``, default ``semantic`` — one constraint, ``SemanticField`` — and ``semantic+pos`` — two,
``SemanticField & POS``) the control table's targets are built from ``valid.csv`` (as ``recipes/control_table.py``:
``--targets`` targets, ``--seed``), and for every target, with seed ``seed + k``, the unguided call and one guided
call per :class:`~ctrlgen.GuidanceConfig` variant (``--configs``, names of :data:`CONFIGS`; default
:data:`DEFAULT_CONFIGS`) run *in turn* (interleaved, so the shared machine's drift hits every row alike), ``-n``
samples each at ``--steps`` steps in one batch. A row: ``over_unguided`` = guided ÷ unguided CPU seconds of the
process (one thread, summed over the targets; CPU time because other jobs on a shared machine stretch wall time
unevenly — ``wall_over_unguided`` beside it), the task's control success (the harness's scorer: semantic success %, for ``semantic+pos`` the joint % and its two parts), bigram precision
against ``train.csv`` and the teacher lm-score. The variants change only the guidance's cost knobs
(``num_inner``, ``step_size``, ``stop``, ``every``, ``skip_below``, ``tolerance``); the fluency weight λ is the
task's default (:data:`~ctrlgen.evaluation.guided.TASK_FLUENCY`). Success on 8 × 8 samples has a standard error of
about 6 points: read differences below ~10 points as noise. The default run takes about 10–15 minutes on one
thread (``--configs`` with every name of :data:`CONFIGS`: about 20).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import replace
from typing import Any

import torch

import ctrlgen
from ctrlgen.evaluation.bench import build_targets, data_dir, machine, write_json
from ctrlgen.evaluation.guided import Guided
from ctrlgen.evaluation.harness import fluency_stats
from ctrlgen.evaluation.methods import SampleContext, spaced_texts
from ctrlgen.evaluation.tasks import TASKS
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.text.e2e import read_e2e_csv

#: name → the GuidanceConfig fields changed from the task's default (K = 3 sign steps of 0.1 on 95% of the steps).
CONFIGS: dict[str, dict[str, Any]] = {
    "K3 (default)": {},
    "K2": {"num_inner": 2},
    "K1": {"num_inner": 1},
    "K1 lr0.3": {"num_inner": 1, "step_size": 0.3},
    "K3 stop0.5": {"stop": 0.5},
    "K3 every2": {"every": 2},
    "K3 tol0.01": {"tolerance": 0.01},
    "K3 skip0.05": {"skip_below": 0.05},
    "K3 skip0.5": {"skip_below": 0.5},
    "K1 skip0.05": {"num_inner": 1, "skip_below": 0.05},
    "K1 lr0.2": {"num_inner": 1, "step_size": 0.2},
    "K1 lr0.3 skip0.05": {"num_inner": 1, "step_size": 0.3, "skip_below": 0.05},
    "K1 lr0.3 stop0.5": {"num_inner": 1, "step_size": 0.3, "stop": 0.5},
    "K1 lr0.3 stop0.75": {"num_inner": 1, "step_size": 0.3, "stop": 0.75},
    "K1 lr0.3 stop0.85": {"num_inner": 1, "step_size": 0.3, "stop": 0.85},
    "K1 lr0.4 stop0.75": {"num_inner": 1, "step_size": 0.4, "stop": 0.75},
}
#: The default run (about 10 minutes); the other CONFIGS lost to these in a first run (issue 17's report).
DEFAULT_CONFIGS = ("K3 (default)", "K1", "K1 lr0.3", "K1 lr0.3 stop0.5", "K1 lr0.3 stop0.75", "K1 lr0.4 stop0.75",
                   "K3 stop0.5")


def run_task(task: str, gen: Any, oracles: Oracles, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rows of one task: unguided, then each config (see the module doc)."""
    spec = TASKS.get(task)
    oracles.require(spec.needs)
    targets = build_targets(task, data_dir(args.data) / "e2e" / "valid.csv", args.targets, args.seed,
                            gen.model.config.seq_len, oracles)
    ctx = SampleContext(task, gen, n=args.n, steps=args.steps, seed=args.seed, batch_size=args.n)
    base = Guided().config(task)
    methods = {name: Guided(replace(base, **CONFIGS[name]), name=name) for name in args.configs}

    def unguided(seed: int) -> list[str]:
        return spaced_texts(gen.generate(n=args.n, steps=args.steps, seed=seed, batch_size=args.n), gen.tokenizer)

    calls = {"unguided": unguided, **{k: (lambda seed, t, m=m: m.sample_one(t, ctx, seed)) for k, m in methods.items()}}
    methods[next(iter(methods))].sample_one(targets[0], ctx, 0)  # warm-up: classifiers load outside the timing
    seconds = {k: 0.0 for k in calls}
    cpu = {k: 0.0 for k in calls}
    texts: dict[str, list[list[str]]] = {k: [] for k in calls}
    for k, target in enumerate(targets):
        for name, call in calls.items():
            t0, c0 = time.perf_counter(), time.process_time()
            texts[name].append(call(args.seed + k, target) if name != "unguided" else call(args.seed + k))
            seconds[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - c0
    rows = []
    for name in calls:
        metrics = spec.score(targets, texts[name], oracles)
        flu = fluency_stats(texts[name], oracles)
        row = {"task": task, "config": name, "fields": CONFIGS.get(name, {}), "seconds": round(seconds[name], 2),
               "cpu_seconds": round(cpu[name], 2), "over_unguided": round(cpu[name] / cpu["unguided"], 2),
               "wall_over_unguided": round(seconds[name] / seconds["unguided"], 2),
               "success": None if metrics[spec.headline] is None else round(metrics[spec.headline], 1),
               **{c: None if metrics.get(c) is None else round(metrics[c], 1) for c in spec.columns[1:]},
               "bigram": None if flu["bigram_precision"] is None else round(flu["bigram_precision"], 1),
               "lm_score": None if flu["lm_score"] is None else round(flu["lm_score"], 2)}
        rows.append(row)
        print(f"{task:13} {name:14} ×{row['over_unguided']:5.2f}  success {row['success']:5.1f}  "
              f"bigram {row['bigram']}  lm {row['lm_score']}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="folder holding e2e/{train,valid}.csv (default $CTRLGEN_DATA)")
    ap.add_argument("--model", default="e2e")
    ap.add_argument("--tasks", default="semantic,semantic+pos")
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help=f"names of CONFIGS: {', '.join(CONFIGS)}")
    ap.add_argument("--targets", type=int, default=8)
    ap.add_argument("-n", type=int, default=8, help="samples per target (one batch)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="recipes/results/bench_guidance_cost.json")
    args = ap.parse_args()
    args.configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        ap.error(f"unknown config(s) {unknown}; known: {', '.join(CONFIGS)}")
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    gen = ctrlgen.load(args.model)
    oracles = Oracles()
    train = data_dir(args.data) / "e2e" / "train.csv"
    oracles.bigrams = BigramReference(e.ref for e in read_e2e_csv(train, parse_mrs=False))
    rows: list[dict[str, Any]] = []
    for task in args.tasks.split(","):
        rows += run_task(task, gen, oracles, args)
    command = " ".join(["OMP_NUM_THREADS=1 python recipes/bench_guidance_cost.py", *map(shlex.quote, sys.argv[1:])])
    write_json(args.out, {"command": command, "machine": machine(), "model": args.model, "targets": args.targets,
                          "n": args.n, "steps": args.steps, "seed": args.seed,
                          "seconds": round(time.perf_counter() - t_start, 1), "rows": rows})


if __name__ == "__main__":
    main()
