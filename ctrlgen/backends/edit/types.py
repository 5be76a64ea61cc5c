"""The types of edit-diffusion decoding (:mod:`ctrlgen.backends.edit.sampler`): model protocols, the layout a revision
must respect, and the per-step and per-call outputs."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from torch import Tensor

from ctrlgen.backends.edit.edits import EditScript
from ctrlgen.errors import SamplingError

RankFn = Callable[[list[list[int]]], list[float]]  # word ids of candidates -> one score each in [0, 1], 1 = satisfied
#: phrases the check-guided proposals may write (word ids): a list, or ``row -> list`` (those the row still needs)
Phrases = Sequence[Sequence[int]] | Callable[[Sequence[int]], Sequence[Sequence[int]]]
Protect = Tensor | Sequence[Collection[int]] | Callable[[int], bool] | None
# (word-id rows, protection flags, slot policies, t) -> proposed candidates per row; see EditSampler.sample
ProposeFn = Callable[[list[list[int]], list[list[bool]], list[tuple[list[list[bool]], list[int]]], float],
                     list[list["EditCandidate"]]]


class Tagger(Protocol):
    """An :class:`~ctrlgen.models.EditTagger` or a module like it: ``config.seq_len`` and
    ``tagger(x: LongTensor[H, L], t) -> Tensor[H, L, 4]`` logits."""

    config: Any

    def __call__(self, ids: Tensor, t: float) -> Tensor: ...


class SpanGenerator(Protocol):
    """An :class:`~ctrlgen.models.EditGenerator` or a module like it: ``config.seq_len``,
    ``length_logits(x, tags: LongTensor[H, L], t) -> Tensor[H, L, S + 1]`` and
    ``fill_logits(x, t) -> Tensor[H, L, V]``."""

    config: Any

    def length_logits(self, ids: Tensor, tags: Tensor, t: float) -> Tensor: ...

    def fill_logits(self, fill_ids: Tensor, t: float) -> Tensor: ...


@dataclass(frozen=True)
class EditLayout:
    """What every revision must preserve, from the constraints' hard faces (the same for all texts of a call).

    - ``pinned``: positions ``1..pinned`` keep their place: no insertion at slots ``0..pinned − 1``, no deletion
      of words ``1..pinned − 1`` and replacements there by exactly one word. Fixed words at positions ≤ ``pinned``
      are additionally *protected* (tag KEEP) by the caller, so they stay what and where they are.
    - ``length``: the number of words to steer to (``Length``, ``Infill``, ``Suffix``). A text longer than it
      may only delete (at most the excess) and replace by single words; a shorter one may only insert or
      replace (growing by at most the deficit); a text of that length keeps it (single-word replacements).
    """

    pinned: int = 0
    length: int | None = None

    def __post_init__(self) -> None:
        if self.pinned < 0 or self.length is not None and self.length < 0:
            raise SamplingError(f"EditLayout needs pinned ≥ 0 and length ≥ 0, got {self.pinned}, {self.length}",
                                "pinned is the last fixed position; length a number of words")


@dataclass(frozen=True)
class EditCandidate:
    """One candidate revision of one text: ``apply_edits(source, edits) == list(ids)``."""

    edits: EditScript
    ids: tuple[int, ...]
    log_prob: float  # tag + length + fill log-probs of this revision
    protected: tuple[bool, ...]  # len(ids) + 1 flags over [slot 0, words…], carried through the edits
    proposal: bool = False  # True for a check-guided proposal (a forced local edit), False for the models' choice


@dataclass
class EditStepOutput:
    candidates: list[list[EditCandidate]]  # per input text: up to b of the models' candidates, best log_prob
    # first, then the check-guided proposals (if asked for), best first


class Reviser(Protocol):
    """What the revision loop (:func:`ctrlgen.backends.edit.loop.run_loop`) needs of its sampler: the 2D beam and
    the score weights, and one revision of many texts (:meth:`ctrlgen.backends.edit.sampler.EditSampler.step`).
    A protocol, so that the loop never imports the sampler module that calls it."""

    beam: tuple[int, int]  # (r texts kept per sample, b candidates per revision)
    rank_weight: float  # weight of the check score in a candidate's score
    fluency_weight: float  # weight of the fluency term
    explore: bool  # check-guided proposals for texts below a check score of 1

    def step(self, tagger: Tagger, edit_generator: SpanGenerator, ids: Sequence[Sequence[int]], t: float,
             generator: Any = None, protected: Sequence[Sequence[bool]] | None = None,
             layout: EditLayout | None = None, explore: Sequence[float | None] | None = None,
             rank: RankFn | None = None, phrases: Phrases = (),
             fluency: RankFn | None = None, propose: ProposeFn | None = None,
             explore_rank: RankFn | None = None) -> EditStepOutput: ...


@dataclass
class EditRevision:
    """One step of the output's trajectory (the chain of revisions that led to each final text)."""

    t: float  # step index fed to the models
    edits: list[EditScript]  # per sample, applied to the previous step's ids (the start ids at step 0)
    ids: list[list[int]]  # per sample, after the step (a stopped sample repeats its text with keep-all edits)
    log_probs: list[float]  # per sample, the path's log-likelihood so far


@dataclass
class EditSampleOutput:
    ids: list[list[int]]  # final word ids per sample (no specials written by the sampler)
    log_probs: list[float]  # log-likelihood of each output's revision path
    scores: list[float]  # log_probs + rank_weight * rank (equal to log_probs without rank)
    steps: list[int]  # revisions run per sample before it stopped
    trajectory: list[EditRevision] = field(default_factory=list)  # per step; empty unless asked for
    beams: list[list[list[int]]] = field(default_factory=list)  # per sample, the r kept texts, best score first
