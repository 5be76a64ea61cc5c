"""Semantic control on the discrete (SEDD) backend: no-control vs rate-reweighting guidance.

    CTRLGEN_DATA=... python recipes/control_discrete.py --targets 40 -n 4 --scales 1,2,4 --timing

``SemanticField(field, value)`` on ``e2e-sedd`` steers by first-order rate reweighting
(``ctrlgen.backends.discrete.guidance``; exact ratios for the ``--shortlist`` likeliest jumps) with the token-space classifier saved beside the model
(``ctrlgen/assets/e2e-sedd/classifiers/semantic``, ``semantic-token.v1``). Targets are the same seeded
sample of distinct ``field = value`` pairs of ``valid.csv`` as ``recipes/control_guided.py`` uses for the
embedding backend, scored by the evaluation harness (oracle success, teacher lm-score, bigram precision).
One guided row per guidance scale γ. ``--timing`` also times 50 samples in one batch (wall and CPU
seconds), unguided and guided. Writes ``recipes/results/control_discrete_semantic.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch

import ctrlgen
from ctrlgen.evaluation.bench import classifier_info, data_dir, machine, write_json
from ctrlgen.evaluation.harness import evaluate
from ctrlgen.evaluation.methods import NoControl, PerTargetMethod, SampleContext, spaced_texts
from ctrlgen.evaluation.target_builders import semantic_targets
from ctrlgen.evaluation.target_files import fitting_examples
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.text.e2e import read_e2e_csv

RESULTS = Path(__file__).parent / "results"


class RateGuided(PerTargetMethod):
    """``SemanticField`` on a discrete generator with guidance scale γ."""

    tasks = frozenset({"semantic"})

    def __init__(self, scale: float, shortlist: int) -> None:
        self.scale, self.shortlist = scale, shortlist
        self.name = f"guided γ={scale:g}" + (f" exact top-{shortlist}" if shortlist else " first-order")

    def check(self, targets: Any, ctx: SampleContext) -> None:
        for t in targets:  # the classifier loads and every value is known before sampling
            ctx.gen.prepare(ctrlgen.SemanticField(t.field, t.value, steer="classifier"))

    def sample_one(self, target: Any, ctx: SampleContext, seed: int) -> list[str]:
        out = ctx.gen.generate(n=ctx.n, steps=ctx.steps, seed=seed, batch_size=ctx.batch_size,
                               constraints=ctrlgen.SemanticField(target.field, target.value, steer="classifier"),
                               guidance_scale=self.scale, guidance_shortlist=self.shortlist)
        return spaced_texts(out, ctx.gen.tokenizer)


def time_fifty(gen: Any, target: Any, steps: int, scale: float, shortlist: int) -> dict[str, Any]:
    out: dict[str, Any] = {"n": 50, "steps": steps, "target": repr(target), "torch_threads": torch.get_num_threads()}
    for name, kw in (("no-control", {}),
                     ("guided", {"constraints": ctrlgen.SemanticField(target.field, target.value, steer="classifier"),
                                 "guidance_scale": scale, "guidance_shortlist": shortlist})):
        w0, c0 = time.perf_counter(), time.process_time()
        gen.generate(n=50, steps=steps, seed=0, batch_size=50, **kw)
        out[name] = {"wall_s": round(time.perf_counter() - w0, 1), "cpu_s": round(time.process_time() - c0, 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="e2e-sedd")
    ap.add_argument("--data", help="folder holding e2e/{train,valid}.csv (default $CTRLGEN_DATA)")
    ap.add_argument("--targets", type=int, default=40)
    ap.add_argument("-n", type=int, default=4, help="samples per target")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scales", type=lambda v: [float(x) for x in v.split(",") if x], default=[1.0, 2.0, 4.0])
    ap.add_argument("--shortlist", type=int, default=4,
                    help="exact likelihood ratios for the k likeliest jumps per masked position (0: first order)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--timing", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "control_discrete_semantic.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    data = data_dir(args.data) / "e2e"
    gen = ctrlgen.load(args.model)
    if gen.backend != "discrete":
        raise SystemExit(f"--model {args.model} is a {gen.backend} model; this recipe measures the discrete backend")
    pairs = semantic_targets(fitting_examples(data / "valid.csv", gen.model.config.seq_len - 2))
    targets = sorted(random.Random(args.seed).sample(pairs, min(args.targets, len(pairs))), key=pairs.index)
    oracles = Oracles()
    oracles.bigrams = BigramReference(e.ref for e in read_e2e_csv(data / "train.csv", parse_mrs=False))
    t0 = time.perf_counter()
    result = evaluate("semantic", targets, gen=gen, methods=[NoControl(), *(RateGuided(s, args.shortlist) for s in args.scales)],
                      n=args.n, steps=args.steps, seed=args.seed, oracles=oracles,
                      references=read_e2e_csv(data / "valid.csv"), source="valid.csv")
    print(result.table(), flush=True)
    guided = result.rows[1:]
    best = args.scales[max(range(len(guided)), key=lambda i: guided[i].ctrl_success or 0.0)]
    timing = time_fifty(gen, targets[0], args.steps, best, args.shortlist) if args.timing else None
    if timing:
        print(json.dumps(timing, indent=1))
    clf = classifier_info(gen)["semantic"]  # the one SemanticField loaded (user location first)
    rows = [{**r.__dict__, "seconds_per_50": round(50 / r.samples_per_s, 1) if r.samples_per_s else None}
            for r in result.rows]
    write_json(args.out, {
        "recipe": "recipes/control_discrete.py", "command": "python recipes/control_discrete.py " + " ".join(sys.argv[1:]),
        "model": args.model, "machine": machine(), "classifier": {"name": clf["classifier"], "hparams": {
            k: v for k, v in clf["hparams"].items() if not isinstance(v, list | dict)}},
        "targets": len(targets), "n": args.n, "steps": args.steps, "seed": args.seed, "scales": args.scales,
        "shortlist": args.shortlist,
        "rows": rows, "timing_50": timing, "total_seconds": round(time.perf_counter() - t0, 1)})


if __name__ == "__main__":
    main()
