"""Fluent structural control on the embedding backend (issue 14, item 1): an ablation over POS and tree targets.

Rows (each on the same targets, in the same run, 1 thread): ``no-control``; ``guided`` (the task's default
:class:`~ctrlgen.GuidanceConfig`, λ = 5e-4); ``decay=D`` (guidance strength × (1 − progress)^D, strong early, off
late); ``denoiser=μ`` (the denoiser's own NLL of x̂0's rounded words added to the guidance loss, weight μ);
``lexicon`` (rounding restricted to words of each position's label, :mod:`ctrlgen.core.lexicon`);
``… +rerank2`` (8 drawn, the 4 best kept by check score, distinct first, then the model's own likelihood,
:mod:`ctrlgen.backends.embedding.fluency`). A setting with a ``+rerank2`` row draws 8 samples per target once: its
plain row is the first 4 of them, its rerank row the best 4 of all 8. Columns: POS word match % / tree F1, bigram
precision %, teacher lm-score, distinct-2 %, distinct texts per target (of 4), seconds per target.

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/fluent_structure.py --tasks pos,tree

Targets: ``--short`` references of ≤ 15 words and ``--long`` of ≥ 20 words from ``valid.csv`` (POS tags by the spaCy
oracle, trees by the bundled parser). The JSON keeps numbers and target ids (line numbers), no text.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import ctrlgen
from ctrlgen.backends.embedding.fluency import fluent_order, own_log_likelihood
from ctrlgen.backends.embedding.guidance import GuidanceConfig
from ctrlgen.cli.evaluate import write_json_atomic
from ctrlgen.evaluation.bench import data_dir, machine
from ctrlgen.evaluation.guided import TASK_FLUENCY, constraints_for
from ctrlgen.evaluation.target_builders import pos_targets, tree_targets
from ctrlgen.evaluation.tasks import TASKS
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.fluency import BigramReference, distinct_n
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words

RESULTS = Path(__file__).parent / "results"
METRIC = {"pos": "pos_match", "tree": "tree_f1"}
#: setting name → (generate kwargs beyond the task's guidance, whether a +rerank2 row is drawn with it)
SETTINGS: dict[str, tuple[dict[str, Any], bool]] = {
    "guided": ({}, True),
    "decay=1": ({"decay": 1.0}, False),
    "lexicon": ({"lexicon": True}, True),
    "denoiser=2": ({"denoiser_weight": 2.0}, False),
    "decay=1 denoiser=0.3": ({"decay": 1.0, "denoiser_weight": 0.3}, False),
}


def structure_oracles(data: Path) -> Oracles:
    """The tagger, parser, teacher and the bigram table of ``data / "train.csv"`` that these recipes score with."""
    oracles = Oracles()
    oracles.require(["tagger", "parser"])
    oracles.bigrams = BigramReference(e.ref for e in read_e2e_csv(data / "train.csv", parse_mrs=False))
    return oracles


def pick_targets(task: str, data: Path, short: int, long: int, seed: int, oracles: Oracles) -> list[Any]:
    """``short`` targets of ≤ 15 words and ``long`` of ≥ 20 (that fit 46 words), drawn from 120 references."""
    pool = (pos_targets(data / "valid.csv", n=120, seed=seed, tag=oracles.tag) if task == "pos"
            else tree_targets(data / "valid.csv", oracles.parse, n=120, seed=seed))
    rng = random.Random(seed)
    s = [t for t in pool if len(t.words) <= 15]
    lo = [t for t in pool if 20 <= len(t.words) <= 46]
    return rng.sample(s, min(short, len(s))) + rng.sample(lo, min(long, len(lo)))


def draw(gen: Any, target: Any, task: str, n: int, steps: int, seed: int, extra: dict[str, Any]) -> Any:
    """One generate call under the target's constraints: the task's guidance with ``extra`` fields."""
    gfields = {k: v for k, v in extra.items() if k in GuidanceConfig.__dataclass_fields__}
    kw = {k: v for k, v in extra.items() if k not in gfields}
    guidance = GuidanceConfig(fluency_weight=TASK_FLUENCY[task], **gfields)
    return gen.generate(n=n, steps=steps, seed=seed, constraints=constraints_for(target), guidance=guidance, **kw)


def reranked(gen: Any, out: Any, n: int) -> list[str]:
    """The ``n`` best of ``out`` by :func:`fluent_order` (what ``generate(rerank=k)`` keeps)."""
    cons = out.report.get("constraints") or {}
    check = [statistics.fmean(c["scores"][k] for c in cons.values()) for k in range(len(out.texts))]
    flu = own_log_likelihood(gen.model, gen.diffusion, out.tokens, gen.tokenizer.vocab.end_id).tolist()
    return [out.texts[k] for k in fluent_order(out.texts, check, flu)[:n]]


def row(task: str, name: str, targets: Sequence[Any], texts: list[list[str]], secs: float, oracles: Oracles) -> dict:
    metrics = TASKS.get(task).score(targets, texts, oracles)
    flat = [t for ts in texts for t in ts]
    lengths = [len(t.words) for t in targets]
    long_ = [k for k, m in enumerate(lengths) if m >= 20]
    short = [k for k, m in enumerate(lengths) if m < 20]
    part = {f"{METRIC[task]}_{lab}": TASKS.get(task).score([targets[k] for k in ks], [texts[k] for k in ks],
                                                           oracles)[METRIC[task]] for lab, ks in
            (("short", short), ("long", long_)) if ks}
    assert oracles.teacher is not None and oracles.bigrams is not None
    return {"method": name, METRIC[task]: metrics[METRIC[task]], **part,
            "bigram_precision": 100 * oracles.bigrams.precision(flat), "lm_score": oracles.teacher.score(flat),
            "distinct_2": 100 * distinct_n(flat, 2),
            "distinct_per_target": statistics.fmean(len(set(ts)) for ts in texts),
            "s_per_target": secs / len(targets)}


def run_task(task: str, gen: Any, oracles: Oracles, targets: list[Any], args: argparse.Namespace,
             save: Any) -> list[dict]:
    """Every row of one task; ``save(rows)`` after each (a partial JSON: no lost work)."""
    n = args.n
    rows: list[dict] = []
    if not args.no_free:
        t0 = time.perf_counter()
        free = [gen.generate(n=n, steps=args.steps, seed=args.seed + k).texts for k in range(len(targets))]
        rows.append(row(task, "no-control", targets, free, time.perf_counter() - t0, oracles))
        print(rows[-1], flush=True)
        save(rows)
    for name, (extra, rerank) in SETTINGS.items():
        if args.only and name not in args.only:
            continue
        plain, best = [], []
        t0 = time.perf_counter()
        for k, t in enumerate(targets):
            out = draw(gen, t, task, 2 * n if rerank else n, args.steps, args.seed + k, extra)
            plain.append(out.texts[:n])
            if rerank:
                best.append(reranked(gen, out, n))
        secs = time.perf_counter() - t0
        rows.append(row(task, name, targets, plain, secs, oracles))
        print(rows[-1], flush=True)
        if rerank:
            rows.append(row(task, f"{name} +rerank2", targets, best, secs, oracles))
            print(rows[-1], flush=True)
        save(rows)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="pos,tree")
    ap.add_argument("--data", help="folder holding e2e/{train,valid}.csv (default $CTRLGEN_DATA)")
    ap.add_argument("--short", type=int, default=3)
    ap.add_argument("--long", type=int, default=3)
    ap.add_argument("-n", type=int, default=4)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", help="settings to run (default all)")
    ap.add_argument("--no-free", action="store_true", help="skip the no-control row")
    ap.add_argument("--out", default=str(RESULTS / "fluent_structure.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    data = data_dir(args.data) / "e2e"
    gen, oracles = ctrlgen.load("e2e"), structure_oracles(data)
    refs = list(dict.fromkeys(e.ref for e in read_e2e_csv(data / "valid.csv")))
    line = {tuple(split_words(r)): k for k, r in enumerate(refs)}
    results: dict[str, Any] = {}
    head = {"recipe": "recipes/fluent_structure.py", "command": " ".join(
        ["python recipes/fluent_structure.py", *(sys.argv[1:] if argv is None else argv)]), "machine": machine(),
        "model": "e2e", "n": args.n, "steps": args.steps, "seed": args.seed,
        "targets_note": "valid.csv distinct-reference indices"}
    for task in args.tasks.split(","):
        targets = pick_targets(task, data, args.short, args.long, args.seed, oracles)
        t0 = time.perf_counter()

        def save(rows: list[dict], task: str = task, targets: list[Any] = targets, t0: float = t0) -> None:
            results[task] = {"targets": [line.get(tuple(t.words)) for t in targets],
                             "words": [len(t.words) for t in targets], "rows": rows,
                             "wall_s": round(time.perf_counter() - t0, 1)}
            write_json_atomic(args.out, {**head, "tasks": results})

        save(run_task(task, gen, oracles, targets, args, save))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
