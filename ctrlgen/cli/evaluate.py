"""``ctrlgen evaluate`` and ``ctrlgen build-targets``: the command line of the evaluation harness.

    ctrlgen build-targets --task pos --from valid.csv --out pos.jsonl [--count 50] [--seed 0]
    ctrlgen evaluate --task pos --targets pos.jsonl [--model e2e] [-n 5] [--steps 200] [--seed 0]
                     [--methods no-control,reference] [--limit M] [--out result.json]

Without ``--targets``, ``evaluate`` builds ``--count`` targets (default 50, seed ``--seed``) from
``--from`` or, when that is not given, ``$CTRLGEN_DATA/e2e/valid.csv``, keeping only references that
fit the model (``seq_len - 2`` words). The same CSV gives the reference method its sentences for
semantic targets. The fluency proxy reads ``--train`` (default ``$CTRLGEN_DATA/e2e/train.csv``; left
out, with a warning, when neither exists). ``--out`` is written atomically (a temporary file, then
``os.replace``) and only after the whole run succeeded. See ``docs/metrics.md`` for every metric.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ctrlgen.api import load
from ctrlgen.core.options import seed_int
from ctrlgen.errors import ConfigError
from ctrlgen.evaluation.harness import evaluate, prepare_methods
from ctrlgen.evaluation.methods import METHODS
from ctrlgen.evaluation.target_files import (
    build_task_targets,
    fitting_examples,
    read_task_targets,
)
from ctrlgen.evaluation.targets import write_targets
from ctrlgen.evaluation.tasks import TASKS
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import read_config
from ctrlgen.oracles.bundle import Oracles, load_parser_oracle
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.text.e2e import read_e2e_csv

log = logging.getLogger(__name__)

DEFAULT_COUNT = 50  # targets built per task when no --targets file is given
DEFAULT_N = 5  # samples per target


def _positive(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return v


def _count(s: str) -> int:
    """``--count`` of build-targets: an integer >= 0 (0: all)."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0: all), got {v}")
    return v


def _data_file(arg: str | None, name: str) -> Path | None:
    """``arg``, else ``$CTRLGEN_DATA/e2e/<name>`` when that exists, else ``None``."""
    if arg:
        return Path(arg)
    root = os.environ.get("CTRLGEN_DATA")
    p = Path(root) / "e2e" / name if root else None
    return p if p is not None and p.is_file() else None


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` via a temporary file in the same folder and ``os.replace``:
    readers see the old file or the complete new one, never half of it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def _check_out(out: str | None) -> None:
    if out and Path(out).is_dir():
        raise ConfigError(f"--out {out} is a directory", hint="pass a file name, e.g. --out results/pos.json")


def _methods(spec: str) -> list[str]:
    names = [m.strip() for m in spec.split(",") if m.strip()]
    if not names:
        raise ConfigError(f"--methods {spec!r} names no method", hint="e.g. --methods no-control,reference")
    return names


def cmd_evaluate(args: argparse.Namespace) -> int:
    _check_out(args.out)
    _, methods = prepare_methods(args.task, _methods(args.methods))  # unknown names fail before any loading
    gen = load(args.model)
    steps = args.steps if args.steps is not None else gen.spec.default_steps
    seq_len = gen.model.config.seq_len
    oracles = Oracles(teacher_name=None if args.teacher == "none" else args.teacher)
    if args.parser and "parser" in TASKS.get(args.task).needs:
        oracles.parser = load_parser_oracle(args.parser)
    source_csv = _data_file(args.from_csv, "valid.csv")
    references = read_e2e_csv(source_csv) if source_csv is not None else []
    lines = None
    if args.targets:
        targets, lines = read_task_targets(args.targets, args.task)
        source = Path(args.targets).name
    elif source_csv is None:
        raise ConfigError("no targets: pass --targets FILE, or --from valid.csv to build them",
                          hint="or set CTRLGEN_DATA to the folder holding e2e/valid.csv")
    else:
        targets = build_task_targets(args.task, fitting_examples(references, seq_len - 2), count=args.count,
                                     seed=args.seed, oracles=oracles)
        source = f"{source_csv.name} ({len(targets)} {args.task} targets built with seed {args.seed})"
    if args.limit:
        targets, lines = targets[:args.limit], (lines[:args.limit] if lines else None)
    train_csv = _data_file(args.train, "train.csv")
    if train_csv is not None:
        oracles.bigrams = BigramReference(e.ref for e in read_e2e_csv(train_csv, parse_mrs=False))
    else:
        log.warning("no training references (--train or $CTRLGEN_DATA/e2e/train.csv): bigram precision left out")
    result = evaluate(args.task, targets, gen=gen, methods=methods, n=args.n, steps=steps, seed=args.seed,
                      batch_size=args.batch_size, oracles=oracles, references=references, lines=lines,
                      source=source, progress=sys.stderr.isatty())
    print(result.table())
    print(f"({source}; n = {args.n} per target, {steps} steps, seed {args.seed}; "
          f"lm-score: {oracles.names.get('teacher', 'off')})")
    if args.out:
        data = result.to_dict()
        data["train_references"] = train_csv.name if train_csv is not None else None
        print(f"wrote {write_json_atomic(args.out, data)}")
    return 0


def cmd_build_targets(args: argparse.Namespace) -> int:
    _check_out(args.out)
    source = _data_file(args.from_csv, "valid.csv")
    if source is None:
        raise ConfigError("no source sentences: pass --from valid.csv", hint="or set CTRLGEN_DATA")
    max_words = args.max_words
    if max_words is None:
        max_words = int(read_config(resolve_model_path(args.model))["model"]["seq_len"]) - 2
    oracles = Oracles(teacher_name=None)
    if args.parser and "parser" in TASKS.get(args.task).needs:
        oracles.parser = load_parser_oracle(args.parser)
    targets = build_task_targets(args.task, source, count=args.count or None, seed=args.seed, max_words=max_words,
                                 oracles=oracles)
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        write_targets(tmp, targets)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote {len(targets)} {args.task} targets to {out}")
    return 0


def evaluate_arguments(e: argparse.ArgumentParser) -> None:
    """The arguments of ``ctrlgen evaluate`` (see the module doc)."""
    e.description, e.formatter_class = __doc__, argparse.RawDescriptionHelpFormatter
    tasks = sorted(TASKS)
    e.add_argument("--task", required=True, choices=tasks, help="the control task")
    e.add_argument("--targets", metavar="FILE", help="JSON-lines targets (default: built from --from)")
    e.add_argument("--from", dest="from_csv", metavar="CSV",
                   help="held-out E2E CSV: builds targets when --targets is absent and gives the reference method "
                        "its sentences (default $CTRLGEN_DATA/e2e/valid.csv)")
    e.add_argument("--count", type=_positive, default=DEFAULT_COUNT,
                   help=f"targets to build without --targets (default {DEFAULT_COUNT})")
    e.add_argument("--model", default="e2e", help="bundled model name or checkpoint directory (default: e2e)")
    e.add_argument("-n", type=_positive, default=DEFAULT_N, help=f"samples per target (default {DEFAULT_N})")
    e.add_argument("--steps", type=_positive, default=None, help="denoising steps (default: the backend's)")
    e.add_argument("--seed", type=seed_int, default=0, help="random seed of sampling and target building (default 0)")
    e.add_argument("--batch-size", type=_positive, default=64)
    e.add_argument("--limit", type=_positive, metavar="M", help="evaluate only the first M targets")
    e.add_argument("--methods", default="no-control,reference",
                   help=f"comma-separated, of: {', '.join(METHODS)} (default no-control,reference)")
    e.add_argument("--teacher", default="e2e-teacher-1", help="teacher LM of the lm-score, or 'none'")
    e.add_argument("--parser", metavar="FILE", help="benepar model file of the parser oracle (tree, spans, semantic+tree; "
                                                   "default: the bundled assets/parser-ptb-sample)")
    e.add_argument("--train", metavar="CSV", help="training references of the fluency proxy "
                                                  "(default $CTRLGEN_DATA/e2e/train.csv)")
    e.add_argument("--out", metavar="FILE.json", help="write every row as JSON (atomically, after success)")


def build_targets_arguments(b: argparse.ArgumentParser) -> None:
    """The arguments of ``ctrlgen build-targets``."""
    b.add_argument("--task", required=True, choices=sorted(TASKS))
    b.add_argument("--from", dest="from_csv", metavar="CSV", help="E2E CSV (default $CTRLGEN_DATA/e2e/valid.csv)")
    b.add_argument("--out", required=True, metavar="FILE.jsonl")
    b.add_argument("--count", type=_count, default=DEFAULT_COUNT, help=f"targets (default {DEFAULT_COUNT}; 0: all)")
    b.add_argument("--seed", type=seed_int, default=0)
    b.add_argument("--model", default="e2e", help="keep references that fit this model's seq_len (default e2e)")
    b.add_argument("--max-words", type=_positive, help="keep references of at most this many words "
                                                       "(default: the model's seq_len - 2)")
    b.add_argument("--parser", metavar="FILE", help="benepar model file for tree / spans / semantic+tree targets (default: bundled)")
