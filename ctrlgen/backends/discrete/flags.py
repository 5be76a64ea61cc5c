"""The discrete (SEDD) backend's command-line flags: ``--predictor``, ``--guidance-shortlist``, ``--guidance-demote``
and ``--guidance-mode``; the shared
``--guidance-scale`` is the rate-reweighting scale γ, passed through as ``guidance_scale``.

Torch-free at import time (``ctrlgen --help`` lists these flags): the sampler class is resolved when a
command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from ctrlgen.registry import resolve

SAMPLER = "ctrlgen.backends.discrete.sampler:SEDDSampler"


class DiscreteFlags:
    """``--predictor {analytic,euler}``, ``--guidance-shortlist K``, ``--guidance-demote``,
    ``--guidance-mode {on-move,every-step}``."""

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--predictor", choices=["analytic", "euler"], default=None,
                            help="SEDD predictor (default analytic)")
        parser.add_argument("--guidance-shortlist", type=int, default=None, metavar="K",
                            help="exact likelihood ratios for the K likeliest jumps per masked position "
                                 "(default 8 on-move, 4 every-step; 0 = first order only)")
        parser.add_argument("--guidance-demote", action="store_true", default=None,
                            help="jumps outside the shortlist may only lose rate (more fluent POS control)")
        parser.add_argument("--guidance-mode", choices=["on-move", "every-step"], default=None,
                            help="rate guidance where a step unmasks a token (default on the absorbing graph; "
                                 "several times cheaper) or at every step")

    def to_kwargs(self, args: argparse.Namespace) -> dict[str, Any]:
        """``sampler`` (a ``SEDDSampler`` with the predictor; its steps are the call's), ``guidance_scale`` and
        ``guidance_shortlist`` when given."""
        scale = getattr(args, "guidance_scale", None)
        return {"sampler": resolve(SAMPLER)(predictor=args.predictor or "analytic"),
                **({} if scale is None else {"guidance_scale": scale}),
                **({} if args.guidance_shortlist is None else {"guidance_shortlist": args.guidance_shortlist}),
                **({} if not getattr(args, "guidance_demote", None) else {"guidance_demote": True}),
                **({} if getattr(args, "guidance_mode", None) is None else {"guidance_mode": args.guidance_mode})}


FLAGS = DiscreteFlags()
