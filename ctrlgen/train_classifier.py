"""``ctrlgen train-classifier {semantic,pos,tree} --model DIR [--steps N] [--out DIR]``.

Trains a built-in noise-aware classifier (found through the ``CLASSIFIERS`` registry: ``semantic`` →
``semantic.v1``, ``pos`` → ``pos.v1``, ``tree`` → ``syntax.v1``, or any registered name whose class has a
training recipe) on the E2E training references and the model's frozen embeddings, reports accuracy on
the validation file at several noise levels, and saves it beside the model
(``DIR/classifiers/<kind>/``: ``config.json``, ``model.safetensors``, ``README.md``), where
``SemanticField`` / ``POS`` / ``SyntaxTree`` / ``SyntaxSpans`` find it.

Data: ``--data`` (default ``$CTRLGEN_DATA/e2e/train.csv``) and ``--valid`` (default ``valid.csv`` beside it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataError

logger = logging.getLogger(__name__)

#: CLI kind → registered classifier name.
KINDS: dict[str, str] = {"semantic": "semantic.v1", "pos": "pos.v1", "tree": "syntax.v1", "syntax": "syntax.v1"}


def _default_data() -> Path:
    root = os.environ.get("CTRLGEN_DATA")
    if not root:
        raise DataError("no --data given and CTRLGEN_DATA is not set",
                        "pass --data path/to/e2e/train.csv or set CTRLGEN_DATA to the folder holding e2e/train.csv")
    return Path(root) / "e2e" / "train.csv"


def _table(metrics: dict[str, dict[str, float]]) -> str:
    cols = sorted({k for row in metrics.values() for k in row})
    lines = ["| noise | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, row in metrics.items():
        lines.append(f"| {name} | " + " | ".join(f"{row.get(c, float('nan')):.3f}" for c in cols) + " |")
    return "\n".join(lines)


def train(kind: str, model: str, *, steps: int = 3000, out: str | None = None, data: str | None = None,
          valid: str | None = None, seed: int = 0, batch_size: int = 64, lr: float = 1e-3,
          options: dict[str, Any] | None = None, command: str | None = None, parser: str | None = None) -> Path:
    """Train, evaluate and save one classifier; returns its directory. ``parser``: a benepar model file for
    silver trees (``tree``; default the bundled parser)."""
    import torch

    from .classifier_training import evaluate_classifier, fit_classifier
    from .constraints import CLASSIFIERS, ModelContext
    from .pipeline import load
    from .text.e2e import read_e2e_csv

    gen = load(model)
    if parser:
        from .constraints.syntax import use_parser

        use_parser(parser)
    if not hasattr(gen, "diffusion") or not hasattr(gen.model, "embedding"):
        raise ConfigError(f"--model {model} is not an embedding-diffusion model",
                          "the built-in classifiers read the latents of an embedding (Diffusion-LM) model")
    name = KINDS.get(kind, kind)
    klass = CLASSIFIERS.get(name)
    ctx = ModelContext.of(gen.model, gen.diffusion, gen.path, gen.tokenizer)
    train_path = Path(data) if data else _default_data()
    valid_path = Path(valid) if valid else train_path.with_name("valid.csv")
    t0 = time.perf_counter()
    train_rows = read_e2e_csv(train_path)
    torch.manual_seed(seed)
    clf = klass.create(train_rows, ctx, **(options or {}))
    train_data = clf.make_data(train_rows, ctx)
    prep_s = time.perf_counter() - t0
    logger.info("%s: %d training examples (%.0f s to build)", name, len(train_data), prep_s)
    summary = fit_classifier(clf, gen, train_data, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    metrics: dict[str, dict[str, float]] = {}
    if valid_path.is_file():
        metrics = evaluate_classifier(clf, gen, clf.make_data(read_e2e_csv(valid_path), ctx))
    clf.training_info.update({"data": train_path.name, "valid": valid_path.name if metrics else None,
                              "data_prep_seconds": round(prep_s, 1), "valid_metrics": metrics,
                              "threads": torch.get_num_threads(), "options": options or {},
                              "parser": Path(parser).name if parser else "bundled"})
    target = Path(out) if out else Path(gen.path) / "classifiers" / kind.split(".")[0]
    if command and parser:  # no machine paths in the README
        command = command.replace(parser, Path(parser).name)
    clf.save_pretrained(target)
    n_params = sum(p.numel() for p in clf.parameters())
    readme = [f"# `{name}` classifier for `{Path(gen.path).name}`", "",
              f"{klass.__doc__.strip().splitlines()[0] if klass.__doc__ else name}", "",
              "Reproduce (the model's frozen embeddings; E2E references as data):", "",
              f"    {command or f'ctrlgen train-classifier {kind} --model {model} --steps {steps} --seed {seed}'}", "",
              (f"- seed {seed}, {steps} steps × batch {batch_size}, lr {lr}, {n_params:,} parameters, "
              f"{summary['seconds']:.0f} s training + {prep_s:.0f} s data preparation on {torch.get_num_threads()} "
              f"CPU thread(s)"),
              (f"- training examples: {len(train_data)} from `{train_path.name}`"
               + (f" (silver trees from the parser `{Path(parser).name if parser else 'parser-ptb-sample'}`)"
                  if parser or name == "syntax.v1" else "")
               + f"; final training loss {summary['final_loss']}"), ""]
    if metrics:
        readme += [(f"Validation (`{valid_path.name}`), by noise level t of the {gen.diffusion.num_steps}-step "
                   "schedule (`nll` = mean −log p of the target):"), "", _table(metrics), ""]
    (target / "README.md").write_text("\n".join(readme))
    logger.info("saved %s to %s", name, target)
    return target


def _options(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--option {item!r} is not key=value", "e.g. --option hidden=128")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def run(args: argparse.Namespace) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    argv = sys.argv[sys.argv.index("train-classifier") + 1:] if "train-classifier" in sys.argv else None
    command = "ctrlgen train-classifier " + " ".join(map(shlex.quote, argv)) if argv else None
    path = train(args.kind, args.model, steps=args.steps, out=args.out, data=args.data, valid=args.valid,
                 seed=args.seed, batch_size=args.batch_size, lr=args.lr, options=_options(args.option),
                 command=command, parser=args.parser)
    print(path)
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``train-classifier`` command to the ``ctrlgen`` command line."""
    p = subparsers.add_parser("train-classifier", help="train a noise-aware classifier beside a model",
                              description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", help=f"{', '.join(KINDS)} (or a registered classifier name)")
    p.add_argument("--model", default="e2e", help="bundled model name or checkpoint directory (default e2e)")
    p.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    p.add_argument("--out", help="output directory (default MODEL/classifiers/KIND)")
    p.add_argument("--data", help="E2E training CSV (default $CTRLGEN_DATA/e2e/train.csv)")
    p.add_argument("--valid", help="E2E validation CSV (default valid.csv beside --data)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--parser", help="benepar model file for the silver trees of 'tree' (default: the bundled parser)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="classifier size options, e.g. hidden=128, layers=2 (repeatable)")
    p.set_defaults(func=run)
    return p
