"""The embedding backend's command-line flags (``ctrlgen generate`` / ``infill``): clamping, rounding, noise
temperature and the guidance fluency weight λ; and how the shared ``--guidance-scale`` maps onto
:class:`~ctrlgen.backends.embedding.guidance.GuidanceConfig` (a multiple of its gradient step size).

Torch-free at import time (``ctrlgen --help`` lists these flags): the sampler and guidance classes are named
below and resolved only when a command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from ctrlgen.registry import resolve

SAMPLER = "ctrlgen.backends.embedding.sampler:EmbeddingSampler"
GUIDANCE = "ctrlgen.backends.embedding.guidance:GuidanceConfig"


class EmbeddingFlags:
    """``--no-clamp``, ``--clamp-after``, ``--rounding``, ``--temperature``, ``--fluency-weight``."""

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-clamp", action="store_true", default=None, help="disable the clamping trick")
        parser.add_argument("--clamp-after", type=float, default=None, metavar="F",
                            help="fraction of steps before clamping starts (default 0)")
        parser.add_argument("--rounding", choices=["l2", "logits"], default=None,
                            help="how clamping and the final words pick a word (default l2)")
        parser.add_argument("--temperature", type=float, default=None,
                            help="noise scale of each step (default 1)")
        parser.add_argument("--fluency-weight", type=float, default=None, metavar="LAMBDA",
                            help="the guidance fluency weight λ (default 0.01)")

    def to_kwargs(self, args: argparse.Namespace) -> dict[str, Any]:
        """``sampler`` (an ``EmbeddingSampler`` with the clamping options; its steps are the call's) and, when
        ``--guidance-scale`` or ``--fluency-weight`` is given, ``guidance`` (a ``GuidanceConfig`` whose step size
        is the scale times the default's)."""
        sampler_cls, guidance_cls = resolve(SAMPLER), resolve(GUIDANCE)
        given = {"clamp_after": args.clamp_after, "rounding": args.rounding, "temperature": args.temperature}
        kw: dict[str, Any] = {"sampler": sampler_cls(clamp=not args.no_clamp,
                                                     **{k: v for k, v in given.items() if v is not None})}
        scale, lam = getattr(args, "guidance_scale", None), args.fluency_weight
        if scale is not None or lam is not None:
            step = guidance_cls().step_size * (1.0 if scale is None else scale)
            kw["guidance"] = guidance_cls(step_size=step, **({} if lam is None else {"fluency_weight": lam}))
        return kw


FLAGS = EmbeddingFlags()
