"""``ctrlgen train-classifier {semantic,pos,tree} --model DIR [--steps N] [--output DIR]``.

Trains a built-in noise-aware classifier (found through the ``CLASSIFIERS`` registry: ``semantic`` →
``semantic.v1``, ``pos`` → ``pos.v1``, ``tree`` → ``syntax.v1``; for a discrete model ``semantic`` →
``semantic-token.v1``, ``pos`` → ``pos-token.v1``, ``tree`` → ``syntax-token.v1``; or any registered name whose
class has a training recipe)
on the E2E training references and the model's frozen embeddings (a discrete model's noisy tokens), reports
accuracy on the validation file at several noise levels, and saves it (``config.json``, ``model.safetensors``,
``README.md``) where ``SemanticField`` / ``POS`` / ``SyntaxTree`` / ``SyntaxSpans`` find it:
``--output DIR`` if given, else for a bundled model the user location
``$CTRLGEN_HOME`` (else ``$XDG_CACHE_HOME/ctrlgen``, else ``~/.cache/ctrlgen``)``/classifiers/<model>/<kind>``,
and for a checkpoint directory ``DIR/classifiers/<kind>``. Never inside the installed package; the target
is checked to be writable before any data is read.

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

import torch

from ctrlgen.api import load
from ctrlgen.cli.stream import set_threads
from ctrlgen.constraints.fingerprint import (
    ModelContext,
    bundled_name,
    classifier_home,
    in_package,
)
from ctrlgen.constraints.plugin import CLASSIFIERS, package_write_error
from ctrlgen.constraints.syntax import use_parser
from ctrlgen.core.options import positive_float, positive_int, seed_int
from ctrlgen.errors import ConfigError, DataError
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.training import classifier_cache
from ctrlgen.training.classifiers import evaluate_classifier, fit_classifier
from ctrlgen.training.trainer import resolve_device

logger = logging.getLogger(__name__)

#: CLI kind → registered classifier name.
KINDS: dict[str, str] = {"semantic": "semantic.v1", "pos": "pos.v1", "tree": "syntax.v1", "syntax": "syntax.v1"}
#: The same for a discrete (SEDD) model, whose classifiers read tokens.
TOKEN_KINDS: dict[str, str] = {"semantic": "semantic-token.v1", "pos": "pos-token.v1", "tree": "syntax-token.v1",
                               "syntax": "syntax-token.v1"}


def _default_data() -> Path:
    root = os.environ.get("CTRLGEN_DATA")
    if not root:
        raise DataError("no --data given and CTRLGEN_DATA is not set",
                        "pass --data path/to/e2e/train.csv or set CTRLGEN_DATA to the folder holding e2e/train.csv")
    return Path(root) / "e2e" / "train.csv"


def default_output(model_path: Path, kind: str) -> Path:
    """Where a ``kind`` classifier for the model at ``model_path`` goes without ``--output``: a bundled
    model's to the user location (``classifier_home(model) / kind``), a checkpoint directory's beside it."""
    if bundled_name(model_path) is not None:
        return classifier_home(model_path) / kind
    return Path(model_path) / "classifiers" / kind


def check_output(target: Path, model_path: Path) -> None:
    """Raise :class:`ConfigError` unless ``target`` can be written: not inside the installed package, the
    nearest existing folder above it writable, ``target`` itself a writable folder when it exists."""
    if in_package(target):
        raise package_write_error(target)
    probe = target.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    blocked = next((p for p in ((target,) if target.exists() else ()) + (probe,)
                    if not p.is_dir() or not os.access(p, os.W_OK | os.X_OK)), None)
    if blocked is not None:
        home = classifier_home(model_path) / target.name
        raise ConfigError(f"cannot write the classifier to {target}: {blocked} is "
                          + ("not a folder" if not blocked.is_dir() else "not writable"),
                          f"pass --output DIR (a writable folder); --output {home} is the user location, "
                          "searched before the classifiers beside the model, so the model finds it without more")


def _table(metrics: dict[str, dict[str, float]]) -> str:
    cols = sorted({k for row in metrics.values() for k in row})
    lines = ["| noise | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, row in metrics.items():
        lines.append(f"| {name} | " + " | ".join(f"{row.get(c, float('nan')):.3f}" for c in cols) + " |")
    return "\n".join(lines)


def train(kind: str, model: str, *, steps: int = 3000, out: str | None = None, data: str | None = None,
          valid: str | None = None, seed: int = 0, batch_size: int = 64, lr: float = 1e-3,
          options: dict[str, Any] | None = None, command: str | None = None, parser: str | None = None,
          device: str = "auto", prepared_file: str | None = None, checkpoint: str | None = None,
          checkpoint_every: int = 200) -> Path:
    """Train, evaluate and save one classifier; returns its directory. ``parser``: a benepar model file for
    silver trees (``tree``; default the bundled parser). ``device``: ``"auto"`` (CUDA when available), ``"cpu"``,
    ``"cuda"``; the saved classifier is always stored on the CPU. ``prepared_file``: a cache of the encoded
    training/validation data (silver tags and trees take minutes to build): read when it matches the
    classifier, data files and tokenizer, else built and written there. ``checkpoint``: a file the training
    state is saved to every ``checkpoint_every`` steps; the same command run again resumes there. ``out``: the
    classifier's directory (default :func:`default_output`), checked by :func:`check_output` before anything is loaded."""
    model_path = resolve_model_path(model)
    target = Path(out) if out else default_output(model_path, kind.split(".")[0])
    check_output(target, model_path)
    logger.info("%s classifier for %s will be written to %s", kind, model, target)
    gen = load(model)
    gen.model.to(resolve_device(device))
    if parser:
        use_parser(parser)
    if not hasattr(gen, "diffusion") or not hasattr(gen.model, "config"):
        raise ConfigError(f"--model {model} is not a diffusion model",
                          "classifiers guide embedding (Diffusion-LM) or discrete (SEDD) models")
    ctx = ModelContext.of(gen.model, gen.diffusion, gen.path, gen.tokenizer)
    if ctx.space == "token" and kind in KINDS and kind not in TOKEN_KINDS:
        raise ConfigError(f"there is no built-in token-space {kind!r} classifier for the discrete model {model}",
                          f"built-in token-space kinds: {', '.join(TOKEN_KINDS)}; {kind} guides the embedding "
                          "backend (--model e2e)")
    name = (TOKEN_KINDS if ctx.space == "token" else KINDS).get(kind, kind)
    klass = CLASSIFIERS.get(name)
    if klass.space != ctx.space:
        raise ConfigError(f"{name} reads {klass.space!r} inputs but {model} needs a {ctx.space!r}-space classifier",
                          "pick a classifier of the model's space")
    train_path = Path(data) if data else _default_data()
    valid_path = Path(valid) if valid else train_path.with_name("valid.csv")
    t0 = time.perf_counter()
    train_rows = read_e2e_csv(train_path)
    files = {"train": train_path, **({"valid": valid_path} if valid_path.is_file() else {})}
    key = classifier_cache.cache_key(klass, name, files, ctx, options or {})
    torch.manual_seed(seed)
    cached = classifier_cache.load(prepared_file, key, klass, options or {}) if prepared_file else None
    if cached is None:
        clf = klass.create(train_rows, ctx, **(options or {}))
        prepared = {k: clf.make_data(train_rows if k == "train" else read_e2e_csv(p), ctx) for k, p in files.items()}
        if prepared_file:
            classifier_cache.save(prepared_file, key, clf, prepared)
    else:
        clf, prepared = cached
    train_data = prepared["train"]
    prep_s = time.perf_counter() - t0
    logger.info("%s: %d training examples (%.0f s to build)", name, len(train_data), prep_s)
    summary = fit_classifier(clf, gen, train_data, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                             checkpoint=checkpoint, checkpoint_every=checkpoint_every)
    metrics: dict[str, dict[str, float]] = {}
    if "valid" in prepared:
        metrics = evaluate_classifier(clf, gen, prepared["valid"])
    clf.training_info.update({"data": train_path.name, "valid": valid_path.name if metrics else None,
                              "data_prep_seconds": round(prep_s, 1), "valid_metrics": metrics,
                              "threads": torch.get_num_threads(), "options": options or {},
                              "parser": Path(parser).name if parser else "bundled"})
    if command and parser:  # no machine paths in the README
        command = command.replace(parser, Path(parser).name)
    if command and prepared_file:  # a cache path is machine-specific and does not change the result
        command = command.replace(f" --prepared {shlex.quote(prepared_file)}", "")
    if command and checkpoint:  # the same: where the state was kept along the way
        command = command.replace(f" --checkpoint {shlex.quote(checkpoint)}", "")
    clf.to("cpu").save_pretrained(target)
    n_params = sum(p.numel() for p in clf.parameters())
    readme = [f"# `{name}` classifier for `{Path(gen.path).name}`", "",
              f"{klass.__doc__.strip().splitlines()[0] if klass.__doc__ else name}", "",
              ("Reproduce (the model's frozen embeddings; E2E references as data):" if ctx.space == "embedding"
               else "Reproduce (E2E references as data):"), "",
              f"    {command or f'ctrlgen train-classifier {kind} --model {model} --steps {steps} --seed {seed}'}", "",
              (f"- seed {seed}, {steps} steps × batch {batch_size}, lr {lr}, {n_params:,} parameters, "
              f"{summary['seconds']:.0f} s training + {prep_s:.0f} s data preparation on "
              + (torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda"
                 else f"{torch.get_num_threads()} CPU thread(s)")),
              (f"- training examples: {len(train_data)} from `{train_path.name}`"
               + (f" (silver trees from the parser `{Path(parser).name if parser else 'parser-ptb-sample'}`)"
                  if parser or name == "syntax.v1" else "")
               + f"; final training loss {summary['final_loss']}"),
              "- data fingerprint (sha256, first 16 hex): " + ", ".join(f"`{p.name}` {key[k]}" for k, p in files.items())
              + f"; vocabulary {key['vocab']}", ""]
    if metrics:
        scale = (f"t of the {gen.diffusion.num_steps}-step schedule" if ctx.space == "embedding"
                 else "t ∈ [0, 1] of the discrete noise (share of tokens masked, log-linear)")
        readme += [(f"Validation (`{valid_path.name}`), by noise level {scale} (`nll` = mean −log p of the target):"),
                   "", _table(metrics), ""]
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
    """``ctrlgen train-classifier``: prints the saved classifier's directory."""
    set_threads(args.threads)
    argv = sys.argv[sys.argv.index("train-classifier") + 1:] if "train-classifier" in sys.argv else None
    command = "ctrlgen train-classifier " + " ".join(map(shlex.quote, argv)) if argv else None
    path = train(args.kind, args.model, steps=args.steps, out=args.out, data=args.data, valid=args.valid,
                 seed=args.seed, batch_size=args.batch_size, lr=args.lr, options=_options(args.option),
                 command=command, parser=args.parser, device=args.device, prepared_file=args.prepared,
                 checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every)
    print(path)
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``ctrlgen train-classifier``."""
    p.description, p.formatter_class = __doc__.split("\n\n")[1], argparse.RawDescriptionHelpFormatter
    p.add_argument("kind", help=f"{', '.join(KINDS)} (or a registered classifier name)")
    p.add_argument("--model", default="e2e", help="bundled model name or checkpoint directory (default e2e)")
    p.add_argument("--steps", type=positive_int, default=3000, help="training steps (default 3000)")
    p.add_argument("--output", "--out", dest="out", metavar="DIR",
                   help="output directory (default: a bundled model's go to $CTRLGEN_HOME, else "
                   "$XDG_CACHE_HOME/ctrlgen, else ~/.cache/ctrlgen, under classifiers/MODEL/KIND; a checkpoint "
                   "directory's to MODEL/classifiers/KIND); never inside the installed package")
    p.add_argument("--data", help="E2E training CSV (default $CTRLGEN_DATA/e2e/train.csv)")
    p.add_argument("--valid", help="E2E validation CSV (default valid.csv beside --data)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch threads (default: OMP_NUM_THREADS when set, else the cores this process may use minus "
                        "the 1-minute load average, at least 1)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda (default auto)")
    p.add_argument("--prepared", metavar="FILE",
                   help="cache of the encoded data (silver labels): read if it matches, else built and written")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="training state saved here every --checkpoint-every steps; the same command resumes from it")
    p.add_argument("--checkpoint-every", type=positive_int, default=200, metavar="N")
    p.add_argument("--parser", help="benepar model file for the silver trees of 'tree' (default: the bundled parser)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="classifier size options, e.g. hidden=128, layers=2 (repeatable)")
