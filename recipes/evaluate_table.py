"""The no-control table: every E2E control task, scored like the Diffusion-LM paper, on one CPU thread.

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/evaluate_table.py \
        --out recipes/results/eval_no_control.json

For each of the six tasks it builds targets from ``valid.csv`` (references of at most ``seq_len - 2``
words; 50 targets drawn with seed 0, semantic: the first 50 distinct field values of the MRs, i.e. all
48) and scores 5 samples per target at 200 steps with the ``no-control`` method (unguided samples of
the default model) and the ``reference`` method (the held-out sentence each target came from), plus
the ``hard`` method (hard constraints only) on infill. Each task's rows are exactly what
``ctrlgen build-targets --task T --count 50 --seed 0`` then ``ctrlgen evaluate --task T --targets … -n 5``
print (same seeds). It also records the teacher perplexity (lm-score, ``e2e-teacher-1``) of all valid
references and of 200 samples of the default model (seed 0, 200 steps), and the wall time of the run.

A task whose oracle is not installed (tree / spans need the parser oracle) is recorded as pending
with the reason, and the other tasks still run. Metrics: ``docs/metrics.md``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from ctrlgen.api import load
from ctrlgen.cli.evaluate import write_json_atomic
from ctrlgen.errors import CtrlgenError
from ctrlgen.evaluation.bench import data_dir, machine
from ctrlgen.evaluation.harness import evaluate
from ctrlgen.evaluation.methods import spaced_texts
from ctrlgen.evaluation.target_files import build_task_targets, fitting_examples
from ctrlgen.evaluation.targets import write_targets
from ctrlgen.oracles.bundle import Oracles, load_parser_oracle
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.text.e2e import read_e2e_csv

TASKS = ("semantic", "pos", "tree", "spans", "length", "infill")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="folder holding e2e/ (default $CTRLGEN_DATA)")
    ap.add_argument("--model", default="e2e")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--count", type=int, default=50, help="targets per task")
    ap.add_argument("-n", type=int, default=5, help="samples per target")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lm-samples", type=int, default=200,
                    help="samples for the model's teacher perplexity (0: skip that measurement)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--targets-dir", help="keep the built targets here (default: a temporary folder)")
    ap.add_argument("--parser", help="benepar model file of the parser oracle (default: the bundled one)")
    ap.add_argument("--out", default="recipes/results/eval_no_control.json")
    args = ap.parse_args()
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    e2e = data_dir(args.data) / "e2e"
    gen = load(args.model)
    seq_len = gen.model.config.seq_len
    valid = read_e2e_csv(e2e / "valid.csv")
    fit = fitting_examples(valid, seq_len - 2)
    train = [e.ref for e in read_e2e_csv(e2e / "train.csv", parse_mrs=False)]
    oracles = Oracles(bigrams=BigramReference(train))
    if args.parser:
        oracles.parser = load_parser_oracle(args.parser)
    targets_dir = Path(args.targets_dir or tempfile.mkdtemp(prefix="ctrlgen-targets-"))
    out: dict = {"recipe": "recipes/evaluate_table.py", "model": args.model, "machine": machine(),
                 "data": {"targets_from": "e2e/valid.csv", "valid_rows": len(valid),
                          "valid_rows_fitting": len(fit), "max_words": seq_len - 2, "bigram_reference": "e2e/train.csv"},
                 "settings": {"count": args.count, "n": args.n, "steps": args.steps, "seed": args.seed,
                              "parser": Path(args.parser).name if args.parser else "bundled"},
                 "tasks": {}, "pending": {}}
    for task in args.tasks.split(","):
        t0 = time.perf_counter()
        try:
            targets = build_task_targets(task, fit, count=args.count, seed=args.seed, oracles=oracles)
        except CtrlgenError as e:  # an oracle is missing (the parser for tree / spans): record, go on
            reason = f"{type(e).__name__}: {e.message} (hint: {e.hint})"
            out["pending"][task] = reason.replace(f"{Path(__file__).resolve().parent.parent}/", "")  # no machine paths
            print(f"{task}: pending — {e.message}")
            continue
        write_targets(targets_dir / f"{task}.jsonl", targets)
        methods = ["no-control", "reference"] + (["hard"] if task == "infill" else [])
        result = evaluate(task, targets, gen=gen, methods=methods, n=args.n, steps=args.steps, seed=args.seed,
                          oracles=oracles, references=valid, source=f"valid.csv ({len(targets)} {task} targets, "
                                                                    f"seed {args.seed})")
        print(result.table(), flush=True)
        out["tasks"][task] = {**result.to_dict(), "wall_s": time.perf_counter() - t0}
    if args.lm_samples > 0:
        out["teacher"] = teacher_perplexities(gen, oracles, valid, args)
    out["wall_s"] = time.perf_counter() - t_start
    print(f"pending: {sorted(out['pending']) or 'none'}; wall time {out['wall_s']:.0f} s")
    print(f"wrote {write_json_atomic(args.out, out)}")


def teacher_perplexities(gen, oracles: Oracles, valid: list, args: argparse.Namespace) -> dict:
    """The fluency gap of the foundation issue: teacher perplexity of real references vs model samples."""
    oracles.require([])  # loads the teacher
    teacher = oracles.teacher
    assert teacher is not None
    t0 = time.perf_counter()
    samples = gen.generate(n=args.lm_samples, steps=args.steps, seed=args.seed)
    secs = time.perf_counter() - t0
    refs = [e.ref for e in valid]
    lm_valid, lm_words = teacher.score(refs), teacher.score(spaced_texts(samples, gen.tokenizer))
    print(f"teacher {teacher.name}: valid refs {lm_valid:.3f}, {args.lm_samples} samples {lm_words:.3f} "
          f"(ratio {lm_words / lm_valid:.3f})")
    return {
        "name": teacher.name, "fingerprint": teacher.fingerprint, "lm_score_valid_refs": lm_valid,
        "valid_refs": len(refs), "samples": args.lm_samples, "sample_seconds": secs,
        "lm_score_samples": lm_words, "ratio": lm_words / lm_valid,
        "lm_score_samples_detokenized": teacher.score(samples.texts),  # the texts as printed (bench_embedding)
    }


if __name__ == "__main__":
    main()
