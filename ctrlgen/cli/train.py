"""``ctrlgen train CONFIG.toml [--data CSV] [--output DIR] [--steps N] [--set key=value ...] [--no-resume]
[--allow-config-change]``."""

from __future__ import annotations

import argparse
import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctrlgen.errors import ConfigError
from ctrlgen.training.run import train_from_config


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``["training.lr=5e-4", "name=x"]`` → ``{"training.lr": 0.0005, "name": "x"}`` (TOML values, else strings).
    NaN and infinity (TOML's ``nan`` / ``inf``) are refused: no setting means them."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} is not key=value", "e.g. --set training.lr=5e-4")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value  # a bare string
        if isinstance(parsed, float) and not math.isfinite(parsed):
            raise ConfigError(f"--set {item!r}: {key.strip()} must be a finite number", "e.g. --set training.lr=5e-4")
        out[key.strip()] = parsed
    return out


def run(args: argparse.Namespace) -> int:
    """``ctrlgen train``: prints the final checkpoint's directory."""
    overrides = {"data.train": args.data, "output_dir": args.output, "training.steps": args.steps,
                 **parse_set(args.set or [])}
    if args.output is not None:
        overrides["output_dir"] = str(Path(args.output).resolve())
    print(train_from_config(args.config, overrides, resume=not args.no_resume,
                            allow_config_change=args.allow_config_change))
    return 0
