"""The edit backend's command-line flags: ``--beam R,B`` for ``generate``, ``infill`` and ``edit``.

Torch-free at import time (``ctrlgen --help`` lists these flags): the sampler class is resolved when a
command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from ctrlgen.registry import resolve

SAMPLER = "ctrlgen.backends.edit.sampler:EditSampler"


def parse_beam(s: str) -> tuple[int, int]:
    """``"R,B"`` → ``(r, b)``, both ≥ 1."""
    try:
        r, b = (int(x) for x in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected R,B (two integers, e.g. 3,5), got {s!r}") from None
    if r < 1 or b < 1:
        raise argparse.ArgumentTypeError(f"R and B must be ≥ 1, got {s!r}")
    return r, b


def sampler_from_args(args: argparse.Namespace) -> Any:
    """The edit sampler for ``--beam R,B`` (``1,1``: greedy); None (the backend's default) without ``--beam``."""
    beam = getattr(args, "beam", None)
    if beam is None:
        return None
    return resolve(SAMPLER)(decoding="greedy" if beam[1] == 1 else "beam", beam=beam)


class EditFlags:
    """``--beam R,B``."""

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--beam", type=parse_beam, default=None, metavar="R,B",
                            help="2D beam: R revisions kept, B candidates each (default 3,3; 1,1 = greedy)")

    def to_kwargs(self, args: argparse.Namespace) -> dict[str, Any]:
        """``sampler`` for ``--beam`` (none: the backend's default 2D beam) and ``guidance_scale`` (the weight of
        the constraints' check scores in the beam ranking; 0 = fluency only) when given."""
        kwargs: dict[str, Any] = {}
        if getattr(args, "guidance_scale", None) is not None:
            kwargs["guidance_scale"] = args.guidance_scale
        sampler = sampler_from_args(args)
        if sampler is not None:
            kwargs["sampler"] = sampler
        return kwargs


FLAGS = EditFlags()
