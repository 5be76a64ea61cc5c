"""The edit backend's command-line flags: ``--beam R,B`` for ``generate``, ``infill`` and ``edit``."""

from __future__ import annotations

import argparse
from typing import Any


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
    """The edit sampler for ``--beam R,B`` (``1,1``: greedy); the backend's default without ``--beam``."""
    beam = getattr(args, "beam", None)
    if beam is None:
        return None
    from ctrlgen.backends.edit.sampler import EditSampler

    return EditSampler(decoding="greedy" if beam[1] == 1 else "beam", beam=beam)
