"""Which guidance setting is the embedding backend's default (issue 17, item 3): the full Diffusion-LM setting
against the cheap one, on every kind of the control table's targets. One process, one thread.

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/guidance_default.py \\
        --tasks semantic,pos,tree,spans,length,semantic+pos --configs "full,cheap,cheap lr0.3" --steps 100
    # one process per task (the committed JSON: 14 runs, full + cheap, then the lr0.3 / lr0.2 variants), then one file
    python recipes/guidance_default.py --tasks semantic --steps 100 --out a.json &
    python recipes/guidance_default.py --tasks semantic+pos --steps 100 --out b.json
    python recipes/guidance_default.py --merge a.json b.json --out recipes/results/guidance_default.json
    # at the model's default 200 steps (recipes/results/guidance_default_200.json), two processes, then --merge:
    python recipes/guidance_default.py --tasks semantic,spans --configs "full,cheap lr0.3,lr0.3 unscaled" \
        --steps 200 -n 4 --out a.json

For each task, ``--targets`` control targets are built from ``valid.csv`` exactly as ``recipes/control_table.py``
builds them (``--seed``); for target ``k`` with seed ``seed + k``, the unguided call and one guided call per
setting (``--configs``, names of :data:`CONFIGS`) run *in turn*, ``-n`` samples each in one batch at
``--steps`` steps, so the machine's drift hits every setting alike. The settings differ only in the cost knobs
(``num_inner``, ``step_size``, ``stop``); the fluency weight λ is the task's
(:data:`~ctrlgen.evaluation.guided.TASK_FLUENCY`), both pinned here by their fields so the recipe measures the
same thing whichever of them ``GuidanceConfig()`` is. A row: CPU seconds (``time.process_time``, one thread)
over the unguided call's, the task's control metrics (the harness's scorers), bigram precision against
``train.csv`` and the teacher lm-score. Beside each setting other than the first: the paired difference of the
headline success from the first setting, target by target (same targets, same seeds), with its standard
error over targets (``diff_se``) — the noise that "the same success" is judged against — and whether it gave
tokens bit-identical to the first setting's (``identical_tokens``: true where the constraints have no soft face,
e.g. ``length``, a hard END/PAD, so that no guidance runs). ``--steps`` defaults to 100, not the backend's 200: half
the cost on a shared machine, and the cost knobs ``stop`` / ``start`` are fractions of the trajectory. Only numbers go into the JSON.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

import ctrlgen
from ctrlgen.evaluation.bench import build_targets, data_dir, machine, write_json
from ctrlgen.evaluation.guided import Guided, constraints_for
from ctrlgen.evaluation.harness import fluency_stats
from ctrlgen.evaluation.methods import spaced_texts
from ctrlgen.evaluation.tasks import TASKS
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.text.e2e import read_e2e_csv

#: name → the GuidanceConfig cost fields (λ stays the task's). ``full``: Diffusion-LM's method (three sign steps of
#: 0.1 on 95% of the steps, never rescaled); ``cheap``: :meth:`GuidanceConfig.cheap`; ``cheap lr0.3`` (the default)
#: / ``lr0.2`` and ``K2 lr0.2``: its smaller-step neighbours, each step scaled by 100 / steps beyond 100 steps
#: (``reference_steps``); ``lr0.3 unscaled``: the default's step at every step whatever the step count;
#: ``… stop0.7``: guidance over the first 70% of the trajectory instead of 75% (lr0.32: the same total push).
CONFIGS: dict[str, dict[str, Any]] = {
    "full": {"num_inner": 3, "step_size": 0.1, "stop": 0.95, "reference_steps": None},
    "cheap": {"num_inner": 1, "step_size": 0.4, "stop": 0.75, "reference_steps": 100},
    "cheap lr0.3": {"num_inner": 1, "step_size": 0.3, "stop": 0.75, "reference_steps": 100},
    "cheap lr0.2": {"num_inner": 1, "step_size": 0.2, "stop": 0.75, "reference_steps": 100},
    "K2 lr0.2": {"num_inner": 2, "step_size": 0.2, "stop": 0.75, "reference_steps": 100},
    "lr0.3 unscaled": {"num_inner": 1, "step_size": 0.3, "stop": 0.75, "reference_steps": None},
    "cheap lr0.3 stop0.7": {"num_inner": 1, "step_size": 0.3, "stop": 0.7, "reference_steps": 100},
    "cheap lr0.32 stop0.7": {"num_inner": 1, "step_size": 0.32, "stop": 0.7, "reference_steps": 100},
}


def _round(v: float | None, k: int = 1) -> float | None:
    return None if v is None else round(v, k)


def run_task(task: str, gen: Any, oracles: Oracles, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rows of one task: unguided, then each setting (see the module doc)."""
    spec = TASKS.get(task)
    oracles.require(spec.needs)
    targets = build_targets(task, data_dir(args.data) / "e2e" / "valid.csv", args.targets, args.seed,
                            gen.model.config.seq_len, oracles)
    base = Guided().config(task)
    configs = {name: replace(base, **CONFIGS[name]) for name in args.configs}

    def call(name: str, target: Any, seed: int) -> Any:
        if name == "unguided":
            return gen.generate(n=args.n, steps=args.steps, seed=seed, batch_size=args.n, progress=False)
        return gen.generate(n=args.n, steps=args.steps, seed=seed, batch_size=args.n, progress=False,
                            constraints=constraints_for(target), guidance=configs[name])

    names = ["unguided", *configs]
    call(names[-1], targets[0], 0)  # warm-up: classifiers load outside the timing
    cpu = {k: 0.0 for k in names}
    texts: dict[str, list[list[str]]] = {k: [] for k in names}
    tokens: dict[str, list[torch.Tensor]] = {k: [] for k in names}
    for k, target in enumerate(targets):
        for name in names:
            c0 = time.process_time()
            out = call(name, target, args.seed + k)
            cpu[name] += time.process_time() - c0
            texts[name].append(spaced_texts(out, gen.tokenizer))
            tokens[name].append(out.tokens)
        print(f"  {task} target {k + 1}/{len(targets)}", flush=True)
    per_target = {name: [spec.score([g], [ts], oracles)[spec.headline] for g, ts in zip(targets, texts[name])]
                  for name in names}
    first = names[1] if len(names) > 1 else None
    rows = []
    for name in names:
        metrics = spec.score(targets, texts[name], oracles)
        flu = fluency_stats(texts[name], oracles)
        row: dict[str, Any] = {
            "task": task, "config": name, "fields": CONFIGS.get(name, {}), "samples": args.n * len(targets),
            "cpu_seconds": round(cpu[name], 2), "over_unguided": round(cpu[name] / cpu["unguided"], 2),
            "success": _round(metrics[spec.headline]),
            **{c: _round(metrics.get(c)) for c in spec.columns[1:]},
            "bigram": _round(flu["bigram_precision"]), "lm_score": _round(flu["lm_score"], 2),
            "per_target": [_round(v) for v in per_target[name]]}
        if first is not None and name not in ("unguided", first) and None not in per_target[name] + per_target[first]:
            diffs = [a - b for a, b in zip(per_target[name], per_target[first])]
            row["diff_vs_" + first] = round(statistics.fmean(diffs), 1)
            row["diff_se"] = round(statistics.stdev(diffs) / len(diffs) ** 0.5, 1) if len(diffs) > 1 else None
        if first is not None and name not in ("unguided", first):
            row["identical_tokens"] = all(torch.equal(a, b) for a, b in zip(tokens[name], tokens[first]))
        rows.append(row)
        print(f"{task:13} {name:12} ×{row['over_unguided']:5.2f}  success {row['success']}  "
              f"Δ {row.get('diff_vs_' + str(first))} ± {row.get('diff_se')}  bigram {row['bigram']}  "
              f"lm {row['lm_score']}", flush=True)
    return rows


def merge(paths: list[str], out: str) -> None:
    """One JSON from runs over different task subsets (same arguments otherwise)."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    merged = {**runs[0], "commands": [r["command"] for r in runs], "rows": [row for r in runs for row in r["rows"]],
              "seconds": [r["seconds"] for r in runs], "configs": {k: CONFIGS[k] for r in runs for k in r["configs"]}}
    merged.pop("command")
    write_json(out, merged)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="folder holding e2e/{train,valid}.csv (default $CTRLGEN_DATA)")
    ap.add_argument("--model", default="e2e")
    ap.add_argument("--tasks", default="semantic,pos,tree,spans,length,semantic+pos")
    ap.add_argument("--configs", default="full,cheap", help=f"names of CONFIGS: {', '.join(CONFIGS)}")
    ap.add_argument("--targets", type=int, default=8)
    ap.add_argument("-n", type=int, default=8, help="samples per target (one batch)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="merge these runs' JSON into --out and exit")
    ap.add_argument("--out", default="recipes/results/guidance_default.json")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge, args.out)
        return
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
    command = " ".join(["OMP_NUM_THREADS=1 python recipes/guidance_default.py", *map(shlex.quote, sys.argv[1:])])
    for task in args.tasks.split(","):
        rows += run_task(task, gen, oracles, args)
        write_json(args.out, {"command": command, "machine": machine(), "model": args.model, "targets": args.targets,
                              "n": args.n, "steps": args.steps, "seed": args.seed, "configs": args.configs,
                              "seconds": round(time.perf_counter() - t_start, 1), "rows": rows})


if __name__ == "__main__":
    main()
