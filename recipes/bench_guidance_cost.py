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

**Discrete section** (``--backend discrete``: ``e2e-sedd``, ``SemanticField(..., steer="classifier")`` with the
token classifier ``semantic-token.v1``, 64 steps): the same ``semantic`` targets; per target, with seed
``seed + k``, the unguided call and one guided call per :data:`DISCRETE_CONFIGS` entry (``generate`` keywords:
``guidance_mode``, ``guidance_shortlist``; then ``OnMoveGuidance.tail`` / ``.rank``) in turn. Rows as above, plus
``satisfied`` = the rate of ``report["satisfied"]`` (the constraint's own check) beside the harness's success.
Writes ``recipes/results/bench_guidance_cost_discrete.json`` by default (about 6 CPU minutes, most of it the old
every-step row; ``…_discrete_seed1.json``: ``--seed 1``, other targets, three configs)::

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/bench_guidance_cost.py --backend discrete
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
from ctrlgen.backends.discrete.move_guidance import OnMoveGuidance
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


#: name → (``generate`` keywords, ``OnMoveGuidance.tail`` [+ " rank": ``OnMoveGuidance.rank = "guided"``]) of the
#: discrete rows; the first is the old default.
DISCRETE_CONFIGS: dict[str, tuple[dict[str, Any], str]] = {
    "every-step k4 (old default)": ({"guidance_mode": "every-step", "guidance_shortlist": 4}, "first-order"),
    "every-step k1": ({"guidance_mode": "every-step", "guidance_shortlist": 1}, "first-order"),
    "every-step first-order": ({"guidance_mode": "every-step", "guidance_shortlist": 0}, "first-order"),
    "on-move k4": ({"guidance_mode": "on-move", "guidance_shortlist": 4}, "first-order"),
    "on-move k8": ({"guidance_mode": "on-move", "guidance_shortlist": 8}, "first-order"),
    "on-move k16": ({"guidance_mode": "on-move", "guidance_shortlist": 16}, "first-order"),
    "on-move k8 tail none": ({"guidance_mode": "on-move", "guidance_shortlist": 8}, "none"),
    "on-move k8 demote": ({"guidance_mode": "on-move", "guidance_shortlist": 8, "guidance_demote": True}, "first-order"),
    "on-move k16 tail none": ({"guidance_mode": "on-move", "guidance_shortlist": 16}, "none"),
    "on-move k4 rank guided": ({"guidance_mode": "on-move", "guidance_shortlist": 4}, "first-order rank"),
    "on-move k8 rank guided": ({"guidance_mode": "on-move", "guidance_shortlist": 8}, "first-order rank"),
}


def run_discrete(gen: Any, oracles: Oracles, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rows of the discrete section (see the module doc): unguided, then each of ``args.discrete_configs``."""
    spec = TASKS.get("semantic")
    oracles.require(spec.needs)
    targets = build_targets("semantic", data_dir(args.data) / "e2e" / "valid.csv", args.targets, args.seed,
                            gen.model.config.seq_len, oracles)

    def call(seed: int, target: Any, name: str) -> Any:
        if name == "unguided":
            return gen.generate(n=args.n, steps=args.steps, seed=seed, batch_size=args.n)
        kw, tail = DISCRETE_CONFIGS[name]
        OnMoveGuidance.tail = tail.split()[0]  # type: ignore[assignment]
        OnMoveGuidance.rank = "guided" if tail.endswith(" rank") else "model"  # type: ignore[assignment]
        try:
            return gen.generate(n=args.n, steps=args.steps, seed=seed, batch_size=args.n,
                                constraints=ctrlgen.SemanticField(target.field, target.value, steer="classifier"), **kw)
        finally:
            OnMoveGuidance.tail, OnMoveGuidance.rank = "first-order", "model"  # type: ignore[assignment]

    names = ["unguided", *args.discrete_configs]
    call(args.seed, targets[0], names[-1])  # warm-up: the classifier loads outside the timing
    seconds, cpu = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0)
    texts: dict[str, list[list[str]]] = {k: [] for k in names}
    satisfied: dict[str, list[bool]] = {k: [] for k in names}
    for k, target in enumerate(targets):
        for name in names:
            t0, c0 = time.perf_counter(), time.process_time()
            out = call(args.seed + k, target, name)
            seconds[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - c0
            texts[name].append(spaced_texts(out, gen.tokenizer))
            satisfied[name] += out.report.get("satisfied", [])
    rows = []
    for name in names:
        metrics, flu = spec.score(targets, texts[name], oracles), fluency_stats(texts[name], oracles)
        kw, tail = DISCRETE_CONFIGS.get(name, ({}, None))
        row = {"task": "semantic", "backend": "discrete", "config": name, "fields": {**kw, "tail": tail} if kw else {},
               "seconds": round(seconds[name], 2), "cpu_seconds": round(cpu[name], 2),
               "over_unguided": round(cpu[name] / cpu["unguided"], 2),
               "wall_over_unguided": round(seconds[name] / seconds["unguided"], 2),
               "satisfied": round(100 * sum(satisfied[name]) / len(satisfied[name]), 1) if satisfied[name] else None,
               "success": None if metrics[spec.headline] is None else round(metrics[spec.headline], 1),
               "bigram": None if flu["bigram_precision"] is None else round(flu["bigram_precision"], 1),
               "lm_score": None if flu["lm_score"] is None else round(flu["lm_score"], 2)}
        rows.append(row)
        print(f"discrete {name:28} ×{row['over_unguided']:5.2f}  satisfied {row['satisfied']}  success "
              f"{row['success']}  bigram {row['bigram']}  lm {row['lm_score']}", flush=True)
    return rows


def run_task(task: str, gen: Any, oracles: Oracles, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rows of one task: unguided, then each config (see the module doc)."""
    spec = TASKS.get(task)
    oracles.require(spec.needs)
    targets = build_targets(task, data_dir(args.data) / "e2e" / "valid.csv", args.targets, args.seed,
                            gen.model.config.seq_len, oracles)
    ctx = SampleContext(task, gen, n=args.n, steps=args.steps, seed=args.seed, batch_size=args.n)
    base = replace(Guided().config(task), num_inner=3, step_size=0.1, stop=0.95,
                   reference_steps=None)  # K3: GuidanceConfig.full()
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
    ap.add_argument("--backend", choices=["embedding", "discrete"], default="embedding",
                    help="discrete: the discrete section (model e2e-sedd unless --model, 64 steps unless --steps)")
    ap.add_argument("--discrete-configs", default=",".join(DISCRETE_CONFIGS),
                    help=f"names of DISCRETE_CONFIGS: {', '.join(DISCRETE_CONFIGS)}")
    ap.add_argument("--model", default=None, help="default e2e (embedding) / e2e-sedd (discrete)")
    ap.add_argument("--tasks", default="semantic,semantic+pos")
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help=f"names of CONFIGS: {', '.join(CONFIGS)}")
    ap.add_argument("--targets", type=int, default=8)
    ap.add_argument("-n", type=int, default=8, help="samples per target (one batch)")
    ap.add_argument("--steps", type=int, default=None, help="default 50 (embedding) / 64 (discrete)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="default recipes/results/bench_guidance_cost[_discrete].json")
    args = ap.parse_args()
    discrete = args.backend == "discrete"
    args.model = args.model or ("e2e-sedd" if discrete else "e2e")
    args.steps = args.steps or (64 if discrete else 50)
    args.out = args.out or f"recipes/results/bench_guidance_cost{'_discrete' if discrete else ''}.json"
    args.discrete_configs = [c for c in args.discrete_configs.split(",") if c]
    if [c for c in args.discrete_configs if c not in DISCRETE_CONFIGS]:
        ap.error(f"unknown discrete config(s); known: {', '.join(DISCRETE_CONFIGS)}")
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
    if discrete:
        rows += run_discrete(gen, oracles, args)
    else:
        for task in args.tasks.split(","):
            rows += run_task(task, gen, oracles, args)
    command = " ".join(["OMP_NUM_THREADS=1 python recipes/bench_guidance_cost.py", *map(shlex.quote, sys.argv[1:])])
    write_json(args.out, {"command": command, "machine": machine(), "model": args.model, "targets": args.targets,
                          "n": args.n, "steps": args.steps, "seed": args.seed,
                          "seconds": round(time.perf_counter() - t_start, 1), "rows": rows})


if __name__ == "__main__":
    main()
