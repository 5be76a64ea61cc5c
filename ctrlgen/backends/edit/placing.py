"""Where a revision starts: a draft or the user's text on the hard faces' layout, with its phrases placed.

:func:`start_rows` projects each row onto the layout of the hard faces (fixed words at their positions, ``Infill``
holes as [MASK] placeholders filled left to right by the generator) after placing the ``Contains`` phrases (and
``name`` / ``near`` values). In a throwaway draft (``generate``) a phrase may also replace 1 … :data:`PLACE_REPLACE`
of the draft's words, every placement ranked as the 2D beam ranks texts (:func:`place_score`), so a new name takes the
place of the draft's own name instead of standing beside it; in the user's text (``edit``, ``infill``) it is only
inserted, where the draft model likes it.
"""

from __future__ import annotations

from typing import Any

from ctrlgen.backends.edit.guides import leaf_scale
from ctrlgen.backends.edit.models import MASK_ID
from ctrlgen.backends.edit.sampler import EditSampler
from ctrlgen.backends.edit.start import Score, contains_phrases, fill_masks, insert_phrases, layout_of, project
from ctrlgen.constraints.composition import PreparedConstraint

PLACE_REPLACE = 4  # generate: a phrase placed in a draft may replace up to this many of its words


def start_rows(gen: Any, rows: list[list[int]], prepared: PreparedConstraint | None, k: int = 1,
               sampler: EditSampler | None = None, steer: PreparedConstraint | None = None) -> list[list[int]]:
    """``k`` starts per row of ``rows`` (word ids) for the edit generator ``gen``
    (:class:`~ctrlgen.backends.edit.generator.DiffusERGenerator`): each row with its phrases placed (see the module
    doc; ``sampler`` given: a draft, placements ranked by :func:`place_score` with ``steer``), projected onto the hard
    faces' layout, its placeholders filled left to right: the ``k`` best of ``4k`` (at least 8) beam fills by the
    fluency term when there is one (else by the fill log-prob)."""
    fixed, layout = layout_of(prepared.hard if prepared else None, gen.tokenizer.vocab)
    phrases = contains_phrases(prepared, gen.tokenizer.vocab)
    if phrases and sampler is not None:  # a draft: insert or replace, ranked by check and fluency
        rows, _ = insert_phrases(rows, phrases, gen.limit, place_score(gen, steer, sampler), PLACE_REPLACE)
    elif phrases:  # Contains: the phrase inserted where the draft model likes it, the loop repairs around it
        rows, _ = insert_phrases(rows, phrases, gen.limit, gen.fluency())
    projected = [project(r, fixed, layout) for r in rows]
    wide = max(8, 4 * k) if any(MASK_ID in r for r in projected) else 1
    filled = fill_masks(gen.model.tagger, gen.model.generator, projected, 1.0, wide)
    fluency = gen.fluency() if wide > 1 else None
    out = []
    for options in filled:
        if fluency is not None:
            scores = fluency(options)
            options = [o for _, o in sorted(zip(scores, options), key=lambda p: -p[0])]
        out += [options[min(j, len(options) - 1)] for j in range(k)]
    return out


def place_score(gen: Any, steer: PreparedConstraint | None, sampler: EditSampler) -> Score | None:
    """``rows -> rank_weight · leaf_scale · check + fluency_weight · fluency``: the beam's ranking of a text (without
    its path log-prob) on ``gen``, for placing phrases in a draft; None when there is neither a check nor fluency."""
    rank, fluency, w = gen._rank(steer), gen.fluency(), sampler.rank_weight * leaf_scale(steer)
    if fluency is None:
        return (lambda rows: [w * v for v in rank(rows)]) if rank is not None else None

    def score(rows: list[list[int]]) -> list[float]:
        checks = rank(rows) if rank is not None else [0.0] * len(rows)
        return [w * c + sampler.fluency_weight * f for c, f in zip(checks, fluency(rows), strict=True)]
    return score
