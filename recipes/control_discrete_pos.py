"""POS control on the discrete (SEDD) backend: no control, check-face reranking, rate guidance, and both.

    CTRLGEN_DATA=... python recipes/control_discrete_pos.py --short 8 --long 8 -n 4 \\
        --methods none,rerank,guided,guided+len,guided+len+rerank

``POS(tags)`` on ``e2e-sedd`` steers by first-order rate reweighting (``ctrlgen.backends.discrete.guidance``, exact
ratios for the ``--shortlist`` likeliest jumps) with the token-space tagger beside the model
(``ctrlgen/assets/e2e-sedd/classifiers/pos``, ``pos-token.v1``): the path ``SemanticField`` takes there. Methods
(``--methods``, comma-separated):

- ``none``: unguided samples; ``rerank``: ``best_of(n, rerank=R)`` of unguided samples (γ = 0), kept by the check
  face (the spaCy oracle) — the generic fallback;
- ``guided``: γ = ``--scale`` (``--demote-outside``: jumps outside the shortlist may only lose rate); ``+len`` adds ``Length(len(tags))`` (exact END on this backend); ``+rerank``
  reranks R× guided samples by the check face.

Targets: ``--short`` references of valid.csv with fewer than 20 words and ``--long`` with at least 20 (that
fit ``seq_len``), drawn with ``--seed``, tagged by the spaCy oracle; scored by the evaluation harness (POS word
match, teacher lm-score, bigram precision, distinct-n, self-BLEU). Writes numbers only (no texts) to
``recipes/results/control_discrete_pos.json``.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch

import ctrlgen
from ctrlgen.backends.discrete.guidance import RateGuidance
from ctrlgen.evaluation.bench import classifier_info, data_dir, machine, write_json
from ctrlgen.evaluation.harness import evaluate
from ctrlgen.evaluation.methods import (
    NoControl,
    PerTargetMethod,
    SampleContext,
    spaced_texts,
)
from ctrlgen.evaluation.target_builders import pos_targets
from ctrlgen.evaluation.target_files import fitting_examples
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words

RESULTS = Path(__file__).parent / "results"
LONG = 20  # words: a long target


class DiscretePOS(PerTargetMethod):
    """``POS(tags)`` (``& Length(len(tags))`` with ``length``) at guidance scale γ, optionally reranked."""

    tasks = frozenset({"pos"})

    def __init__(self, scale: float, shortlist: int, length: bool, rerank: int) -> None:
        self.scale, self.shortlist, self.length, self.rerank = scale, shortlist, length, rerank
        kind = "rerank-only" if scale == 0 else f"guided γ={scale:g}" + (f" top-{shortlist}" if shortlist else " 1st")
        self.name = kind + (" +Length" if length else "") + (f" best-of-{rerank}" if rerank > 1 else "")

    def constraint(self, target: Any) -> Any:
        pos = ctrlgen.POS(target.tags)
        return pos & ctrlgen.Length(len(target.tags)) if self.length else pos

    def check(self, targets: Any, ctx: SampleContext) -> None:
        for t in targets:  # the tagger loads and every target fits before sampling
            ctx.gen.prepare(self.constraint(t))

    def sample_one(self, target: Any, ctx: SampleContext, seed: int) -> list[str]:
        kw = {"steps": ctx.steps, "seed": seed, "batch_size": ctx.batch_size, "constraints": self.constraint(target),
              "guidance_scale": self.scale, "guidance_shortlist": self.shortlist}
        out = (ctx.gen.best_of(n=ctx.n, rerank=self.rerank, **kw) if self.rerank > 1
               else ctx.gen.generate(n=ctx.n, **kw))
        return spaced_texts(out, ctx.gen.tokenizer)


def method(spec: str, args: argparse.Namespace) -> Any:
    """``none`` | ``rerank`` | ``guided[+len][+rerank]`` → a method."""
    parts = spec.split("+")
    if spec == "none":
        return NoControl()
    if parts[0] == "rerank" and len(parts) == 1:
        return DiscretePOS(0.0, 0, False, args.rerank)
    if parts[0] != "guided" or not set(parts[1:]) <= {"len", "rerank"}:
        raise SystemExit(f"unknown method {spec!r}: none, rerank, guided[+len][+rerank]")
    return DiscretePOS(args.scale, args.shortlist, "len" in parts, args.rerank if "rerank" in parts else 1)


def pick(examples: list[Any], count: int, short: bool, seed: int) -> list[Any]:
    """``count`` distinct references, short (< LONG words) or long, as POS targets (spaCy tags)."""
    refs = [e for e in examples if (len(split_words(e.ref)) < LONG) == short]
    refs = list({e.ref: e for e in refs}.values())
    chosen = sorted(random.Random(seed).sample(range(len(refs)), min(count, len(refs))))
    return pos_targets([refs[k] for k in chosen])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="e2e-sedd")
    ap.add_argument("--data", help="folder holding e2e/{train,valid}.csv (default $CTRLGEN_DATA)")
    ap.add_argument("--short", type=int, default=8)
    ap.add_argument("--long", type=int, default=8)
    ap.add_argument("-n", type=int, default=4, help="samples per target")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=float, default=2.0)
    ap.add_argument("--shortlist", type=int, default=4, help="exact ratios for the k likeliest jumps (0: first order)")
    ap.add_argument("--rerank", type=int, default=4, help="samples drawn per kept one by the rerank methods")
    ap.add_argument("--demote-outside", action="store_true",
                    help="RateGuidance.demote_outside: outside the shortlist, guidance may only lower rates")
    ap.add_argument("--methods", default="none,rerank,guided,guided+len,guided+len+rerank")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "control_discrete_pos.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    RateGuidance.demote_outside = args.demote_outside
    data = data_dir(args.data) / "e2e"
    gen = ctrlgen.load(args.model)
    if gen.backend != "discrete":
        raise SystemExit(f"--model {args.model} is a {gen.backend} model; this recipe measures the discrete backend")
    valid = fitting_examples(data / "valid.csv", gen.model.config.seq_len - 2)
    sets = {"short": pick(valid, args.short, True, args.seed), "long": pick(valid, args.long, False, args.seed)}
    oracles = Oracles()
    oracles.bigrams = BigramReference(e.ref for e in read_e2e_csv(data / "train.csv", parse_mrs=False))
    methods = [method(m, args) for m in args.methods.split(",") if m]
    t0, out_sets = time.perf_counter(), {}
    for name, targets in sets.items():
        result = evaluate("pos", targets, gen=gen, methods=methods, n=args.n, steps=args.steps, seed=args.seed,
                          oracles=oracles, source=f"valid.csv ({name})")
        print(f"== {name}: {len(targets)} targets, {min(len(t.tags) for t in targets)}–"
              f"{max(len(t.tags) for t in targets)} tags", flush=True)
        print(result.table(), flush=True)
        out_sets[name] = {"targets": len(targets), "tags": [len(t.tags) for t in targets],
                          "rows": [{k: v for k, v in r.__dict__.items() if k != "examples"} for r in result.rows]}
    clf = classifier_info(gen).get("pos", {})
    write_json(args.out, {
        "recipe": "recipes/control_discrete_pos.py",
        "command": "python recipes/control_discrete_pos.py " + " ".join(sys.argv[1:]),
        "model": args.model, "machine": machine(), "classifier": clf, "n": args.n, "steps": args.steps,
        "seed": args.seed, "scale": args.scale, "shortlist": args.shortlist, "rerank": args.rerank,
        "demote_outside": args.demote_outside,
        "sets": out_sets, "total_seconds": round(time.perf_counter() - t0, 1)})


if __name__ == "__main__":
    main()
