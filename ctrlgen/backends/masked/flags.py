"""The masked backend's command-line flags: ``--remasking``, ``--block-length``, ``--cfg-scale``, ``--threshold``,
``--block-cache`` and ``--token-temperature`` (``--temperature`` is the embedding backend's noise scale, and a flag belongs to one
backend); the shared ``--guidance-scale`` is the logit-guidance scale γ of soft constraints.

Torch-free at import time (``ctrlgen --help`` lists these flags): the sampler config is resolved when a command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from ctrlgen.core.options import nonnegative_float, positive_int
from ctrlgen.registry import resolve

CONFIG = "ctrlgen.backends.masked.sampler:SamplerConfig"
STRATEGIES = ("low_confidence", "random", "margin", "entropy")  # the built-in REMASKING entries (checked again there)


class MaskedFlags:
    """``--remasking``, ``--block-length N``, ``--cfg-scale S``, ``--token-temperature T``."""

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--remasking", choices=STRATEGIES, default=None,
                            help="which masked positions are revealed first (default low_confidence)")
        parser.add_argument("--block-length", type=positive_int, default=None, metavar="N",
                            help="semi-autoregressive blocks of N positions, left to right (must divide the "
                                 "model's length; default: the model's own, config.json sampling.block_length, else one block)")
        parser.add_argument("--cfg-scale", type=nonnegative_float, default=None, metavar="S",
                            help="classifier-free guidance on the hard constraints (default 0 = off)")
        parser.add_argument("--threshold", type=_probability, default=None, metavar="P",
                            help="also reveal every position whose drawn token has probability >= P at each step "
                                 "(Fast-dLLM parallel decoding; --steps becomes a ceiling; default: off)")
        parser.add_argument("--block-cache", action="store_true", default=None,
                            help="Fast-dLLM's block cache: one full forward per block, then the block's positions "
                                 "only (an approximation; no --cfg-scale, no soft constraints)")
        parser.add_argument("--token-temperature", type=nonnegative_float, default=None, metavar="T",
                            help="temperature of the token draws (default 1; 0 = greedy)")

    def to_kwargs(self, args: argparse.Namespace) -> dict[str, Any]:
        """``sampler`` (a ``SamplerConfig`` with the given fields; its steps are the call's) and ``guidance_scale``
        when given."""
        given = {"remasking": args.remasking, "block_length": args.block_length, "cfg_scale": args.cfg_scale,
                 "temperature": args.token_temperature, "threshold": getattr(args, "threshold", None),
                 "cache": getattr(args, "block_cache", None)}
        scale = getattr(args, "guidance_scale", None)
        return {"sampler": resolve(CONFIG)(**{k: v for k, v in given.items() if v is not None}),
                **({} if scale is None else {"guidance_scale": scale})}


def _probability(text: str) -> float:
    """argparse type: a float in (0, 1]."""
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < p <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a probability in (0, 1]")
    return p


FLAGS = MaskedFlags()
