"""Guided control on the default model, measured with the evaluation harness: no-control vs ``guided``.

For each task, targets are built from ``valid.csv`` (seeded), ``n`` samples are drawn per target by each
method, and the harness scores control success with the oracles, the lm-score under the fixed teacher
``e2e-teacher-1``, the bigram-precision fluency proxy against ``train.csv``, and samples/s (reported
here as seconds per 50 samples; the harness draws ``n`` per target, so batches are small — ``--timing``
also times 50 samples in one batch, wall and CPU seconds). ``--sweep`` adds guided rows over step size × K on the first
``--sweep-targets`` targets spread over the list, and over the fluency weight λ (the paper's × 0.1, 1, 10,
100). Writes ``recipes/results/control_<task>.json``.

    CTRLGEN_DATA=... python recipes/control_guided.py --task semantic --targets 40 -n 4
    CTRLGEN_DATA=... python recipes/control_guided.py --task pos --targets 40 -n 4 --sweep

Semantic targets: a seeded sample of the distinct ``field = value`` pairs of the validation MRs (the
harness's builder takes them in field order, which would be mostly names). The classifiers are the
ones bundled beside the model (``ctrlgen/assets/e2e/classifiers``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

import ctrlgen
from ctrlgen import GuidanceConfig
from ctrlgen.evaluation.bench import (
    build_targets,
    data_dir,
    float_list,
    lambda_methods,
    machine,
    row_summary,
    time_fifty,
)
from ctrlgen.evaluation.bench import classifier_info as _classifier_info
from ctrlgen.evaluation.guided import TASK_FLUENCY, Guided
from ctrlgen.evaluation.harness import evaluate
from ctrlgen.evaluation.methods import NoControl
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.text.e2e import read_e2e_csv

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", required=True, choices=["semantic", "pos", "tree", "spans"])
    ap.add_argument("--data", help="folder holding e2e/{train,valid}.csv (default $CTRLGEN_DATA)")
    ap.add_argument("--targets", type=int, default=40)
    ap.add_argument("-n", type=int, default=4, help="samples per target")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sweep", action="store_true", help="also sweep step size × K")
    ap.add_argument("--sweep-targets", type=int, default=12)
    ap.add_argument("--lambdas", type=float_list, default=[],
                    help="extra guided rows with these fluency weights λ, e.g. 0.001")
    ap.add_argument("--extra-step", type=float, default=0.1, help="step size of the --lambdas rows")
    ap.add_argument("--sweep-at", type=float, help="λ of the step size / K rows of the sweep (default the paper's)")
    ap.add_argument("--with-length", action="store_true", help="pos: also a guided row with Length(len(tags))")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--parser", help="benepar model file for tree / spans (default: the bundled parser)")
    ap.add_argument("--timing", action="store_true", help="also time 50 samples in one batch, unguided vs guided")
    ap.add_argument("--out", help="JSON path (default recipes/results/control_<task>.json)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    data = data_dir(args.data) / "e2e"
    gen = ctrlgen.load("e2e")
    oracles = Oracles()
    if args.parser:  # tree / spans: targets, scoring and the syntax check faces use this parser
        from ctrlgen.constraints.syntax import use_parser
        from ctrlgen.oracles.bundle import load_parser_oracle

        oracles.parser = load_parser_oracle(args.parser)
        use_parser(oracles.parser)
    oracles.bigrams = BigramReference(e.ref for e in read_e2e_csv(data / "train.csv", parse_mrs=False))
    targets = build_targets(args.task, data / "valid.csv", args.targets, args.seed, gen.model.config.seq_len, oracles)
    methods = [NoControl(), Guided()]
    methods += lambda_methods(args.lambdas, args.extra_step)  # extra guided rows with other fluency weights
    if args.with_length:
        methods.append(Guided(name="guided+length", with_length=True))
    t0 = time.perf_counter()
    common = {"gen": gen, "n": args.n, "steps": args.steps, "seed": args.seed, "oracles": oracles,
                  "references": read_e2e_csv(data / "valid.csv"), "source": "valid.csv"}
    main_result = evaluate(args.task, targets, methods=methods, **common)
    print(main_result.table(), flush=True)
    sweep = None
    if args.sweep:
        lam = TASK_FLUENCY[args.task]
        at = args.sweep_at if args.sweep_at is not None else lam
        configs = [GuidanceConfig.full(fluency_weight=lam * m) for m in (0.1, 1, 10, 100)]
        configs += [GuidanceConfig.full(step_size=s, num_inner=k, fluency_weight=at) for s, k in ((0.05, 3), (0.2, 3), (0.1, 1))]
        sweep_methods = [NoControl()] + [Guided(c, name=f"guided lr={c.step_size} K={c.num_inner} λ={c.fluency_weight:g}")
                                         for c in configs]
        k = min(args.sweep_targets, len(targets))
        subset = [targets[i * len(targets) // k] for i in range(k)]  # evenly spread (semantic: across fields)
        sweep = evaluate(args.task, subset, methods=sweep_methods, **common)
        print(sweep.table(), flush=True)
    timing = time_fifty(gen, targets[0], args.task, args.steps, args.seed) if args.timing else None
    if timing:
        print(json.dumps(timing, indent=1), flush=True)
    out = {
        "recipe": "recipes/control_guided.py",
        "command": "python recipes/control_guided.py " + " ".join(Path(a).name if a == args.parser else a for a in sys.argv[1:]),
        "task": args.task, "model": "e2e", "machine": machine(),
        "parser": Path(args.parser).name if args.parser else ("bundled" if args.task in ("tree", "spans") else None), "data": "e2e/valid.csv targets, e2e/train.csv bigrams",
        "classifiers": _classifier_info(gen),
        "guidance_default": GuidanceConfig(fluency_weight=TASK_FLUENCY[args.task]).__dict__,
        "targets": len(targets), "n": args.n, "steps": args.steps, "seed": args.seed,
        "main": {**main_result.settings, "rows": [row_summary(r) for r in main_result.rows]},
        "sweep": None if sweep is None else {**sweep.settings, "targets": k,
                                             "rows": [row_summary(r) for r in sweep.rows]},
        "timing_50": timing,
        "total_seconds": round(time.perf_counter() - t0, 1),
    }
    path = Path(args.out) if args.out else RESULTS / f"control_{args.task}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
