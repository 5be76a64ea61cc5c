"""Which kept text each sample of ``generate`` / ``infill`` returns: distinct texts, the fluent one among equals.

The revision loop keeps ``r`` texts per sample (its 2D beam) and would return each sample's best by the beam
score (path log-prob + check + fluency). Samples that start from different drafts often converge on one text, so
:func:`choose` picks per sample, in sample order:

1. the order of the sample's kept texts: under a per-word label constraint (``by_fluency``) the texts that pass
   the checks (score 1) first, the most fluent of them (the AR draft model's mean log-prob per word) first,
   whatever path led there, then the others in the beam's order; otherwise the beam's own order;
2. the first text in that order that no earlier sample returned, if its check score is at least the sample's
   best minus ``diversity`` (``0``: only a text that meets the constraints as well; ``1``: any distinct kept
   text); else the first text (a repeat: the constraint, or the beam, admits no other).

``diversity = None`` switches the de-duplication off (each sample's first text, repeats allowed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ctrlgen.errors import SamplingError

Score = Callable[[list[list[int]]], list[float]]
DIVERSITY = 0.0  # generate's default: a distinct kept text must score as well on the checks as a repeat


def check_diversity(diversity: object) -> None:
    """Raise :class:`SamplingError` unless ``diversity`` is a number in [0, 1] or ``None``."""
    if diversity is not None and (isinstance(diversity, bool) or not isinstance(diversity, int | float)
                                  or not 0 <= diversity <= 1):
        raise SamplingError(f"diversity must be a number in [0, 1] or None, got {diversity!r}",
                            "0 (default): only as good distinct texts; 1.0: any distinct kept text; None: off")


def choose(beams: Sequence[Sequence[Sequence[int]]], rank: Score | None, fluency: Score | None, by_fluency: bool,
           diversity: float | None, used: set[tuple[int, ...]] | None = None) -> list[list[int]]:
    """One text (word ids) per sample from its kept texts ``beams[s]`` (best first by the beam score); ``used``:
    texts returned by earlier batches of the same call (updated in place)."""
    used = set() if used is None else used
    flat = [list(r) for b in beams for r in b]
    ranks = rank(flat) if rank is not None and flat else [1.0] * len(flat)
    flu = fluency(flat) if fluency is not None and by_fluency and flat else [0.0] * len(flat)
    out, k = [], 0
    for b in beams:
        idx = list(range(k, k + len(b)))
        k += len(b)
        if by_fluency:  # the texts that pass every check (score 1), most fluent first; then the beam's order
            idx.sort(key=lambda i: (ranks[i] < 1.0, -flu[i] if ranks[i] >= 1.0 else 0.0, i))
        pick = idx[0]
        if diversity is not None:
            fresh = [i for i in idx if tuple(flat[i]) not in used and ranks[i] >= ranks[idx[0]] - diversity]
            pick = fresh[0] if fresh else pick
        used.add(tuple(flat[pick]))
        out.append(flat[pick])
    return out
