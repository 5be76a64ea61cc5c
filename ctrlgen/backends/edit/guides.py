"""What the constraints tell the edit backend beyond hard faces (mixed into
:class:`~ctrlgen.backends.edit.generator.DiffusERGenerator`): the check face as a ranking, the AR draft model as the fluency
term and the draft writer, phrases probed from AR drafts for check-only leaves, and pattern proposals for per-word
label leaves (:mod:`.edit_pattern`).

Per-word label constraints (``POS``, ``SyntaxTree``): drafts are written under the label lexicon (labels seen in
≥ ``LEXICON_SHARE`` of a word's uses in the probed drafts) and ranked by check + label closeness +
``DRAFT_FLUENCY`` · the draft model's mean log-prob per word (``recipes/sweep_edit_pattern.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ctrlgen.backends.edit.joint import words_of
from ctrlgen.backends.edit.models import encode_batch
from ctrlgen.backends.edit.ops import device_of
from ctrlgen.backends.edit.pattern import PatternProposer
from ctrlgen.backends.edit.start import probe_phrases
from ctrlgen.backends.edit.types import Phrases
from ctrlgen.constraints.base import WordLabelled
from ctrlgen.constraints.composition import PreparedConstraint
from ctrlgen.constraints.syntax import SyntaxSpans
from ctrlgen.core.lexicon import build_lexicon
from ctrlgen.errors import CheckpointError
from ctrlgen.models.ar_lm import ARLM
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import load_pretrained
from ctrlgen.registry import CHECK

LEXICON_SHARE, DRAFT_FLUENCY = 0.3, 0.3
#: explore_budget for a SyntaxSpans leaf (a parse per proposal: ~1,200 proposals per 28-word text and step without
#: it made one 6-target cell run past 20 minutes); recipes/control_long.py --rows edit --tasks spans measures it
SPANS_EXPLORE_BUDGET = 48


def leaf_scale(prepared: PreparedConstraint | None) -> float:
    """How much the check weight is scaled so that meeting any one checked leaf is worth what a lone constraint's
    is: the check score is the weighted *mean* of the leaves' scores, so beside seven other fields one more field
    raised it by 1/8 and was worth ``rank_weight / 8`` — less than the log-prob an edit costs, and the revisions of
    a whole MR stopped after 2–3 steps with fields missing (``recipes/mr_describe.py``). The scale is the total
    weight of the checked leaves over the smallest one (the number of leaves when weights are equal; 1.0 for one)."""
    if prepared is None:
        return 1.0
    weights = [t.weight for t in prepared.terms if CHECK in t.constraint.faces and t.weight > 0]
    return sum(weights) / min(weights) if weights else 1.0


def explore_budget(prepared: PreparedConstraint | None) -> int | None:
    """``EditSampler.explore_budget`` for ``prepared``: :data:`SPANS_EXPLORE_BUDGET` when a ``SyntaxSpans`` leaf is
    a local leaf (its check is a parse per proposal), else ``None`` (every proposal is check-scored)."""
    if prepared is None or not any(isinstance(c, SyntaxSpans) for c in local_leaves(prepared)):
        return None
    return SPANS_EXPLORE_BUDGET


def local_leaves(prepared: PreparedConstraint) -> list:  # type: ignore[type-arg]
    """The check-only leaves (no hard face) that are not per-word label constraints: those the local-edit
    proposals of :mod:`ctrlgen.backends.edit.explore` (and their probed phrases) serve."""
    return [t.constraint for t in prepared.terms
            if t.faces == frozenset({CHECK}) and not isinstance(t.constraint, WordLabelled)]


class EditGuides:
    """Constraint- and draft-model-derived helpers of the edit backend; the host sets ``model``, ``tokenizer``,
    ``draft_model`` and calls :meth:`_init_guides`."""

    model: Any
    tokenizer: Any
    draft_model: str | None
    path: Path | None

    def _init_guides(self) -> None:
        self._draft: Any = None
        self._phrases: dict[str, list[list[int]]] = {}  # probed phrases per constraint (see phrases())
        self._lexicons: dict[type, dict[str, torch.Tensor]] = {}  # label lexicons per constraint class (proposer())
        self._probe_rows: list[list[int]] | None = None  # the AR drafts phrases and lexicons are probed from

    def _rank(self, prepared: PreparedConstraint | None):  # type: ignore[no-untyped-def]
        if prepared is None or not any(CHECK in t.constraint.faces for t in prepared.terms):
            return None
        vocab = self.tokenizer.vocab
        return lambda rows: prepared.score([self.tokenizer.detokenize([vocab.word(i) for i in r]) for r in rows])

    def _local_rank(self, prepared: PreparedConstraint | None):  # type: ignore[no-untyped-def]
        """The first, cheap stage of a two-stage ranking: the check score of the :func:`local_leaves` alone (a slot
        or string check), which the local-edit proposals must raise, when a per-word label leaf is served by the
        pattern proposals (its tagger or parser then labels only the few proposals kept, in the beam ranking, not
        the hundreds tried). ``None`` (the proposals raise the whole check score) otherwise."""
        if prepared is None or self.proposer(prepared) is None:
            return None
        leaves = {id(c) for c in local_leaves(prepared)}
        terms = tuple(t for t in prepared.terms if id(t.constraint) in leaves)
        return self._rank(replace(prepared, terms=terms)) if terms else None

    def _draft_rank(self, prepared: PreparedConstraint | None):  # type: ignore[no-untyped-def]
        """``(score, cheap)``: how AR drafts are ranked. ``score``: the check face, plus, for per-word label leaves,
        how close the draft's labels are to the target's (fewest edits to reach them; the check alone only counts
        labels in place) and ``DRAFT_FLUENCY`` · fluency. ``cheap`` (with label leaves *and* :func:`local_leaves`
        only): the local leaves' check + ``DRAFT_FLUENCY`` · fluency, the first stage that picks which drafts the
        tagger or parser labels (:func:`~ctrlgen.backends.edit.start.draft_starts`)."""
        rank, propose = self._rank(prepared), self.proposer(prepared)
        if rank is None or propose is None:
            return rank, None
        fluency, local = self.fluency(), self._local_rank(prepared)

        def score(rows: list[list[int]]) -> list[float]:
            return [a + b + DRAFT_FLUENCY * f
                    for a, b, f in zip(rank(rows), propose.closeness(rows), fluency(rows), strict=True)]

        def cheap(rows: list[list[int]]) -> list[float]:
            return [a + DRAFT_FLUENCY * f for a, f in zip(local(rows), fluency(rows), strict=True)]
        return score, (cheap if local is not None else None)

    def draft(self) -> Any:
        """The AR draft model (loaded on first use); its vocabulary must be this model's."""
        if self._draft is None:
            if self.draft_model is None:
                raise CheckpointError("this edit model names no AR draft model",
                                      "pass bootstrap='empty' or 'random', or load with draft_model='e2e-ar-draft'")
            ar, tok, _ = load_pretrained(resolve_model_path(self.draft_model), ARLM)
            if tok.vocab.words != self.tokenizer.vocab.words:
                raise CheckpointError(f"the draft model {self.draft_model!r} has another vocabulary",
                                      "train the draft model on the same data with the same min_count")
            self._draft = ar
        return self._draft

    def fluency(self):  # type: ignore[no-untyped-def]
        """``rows -> mean log-prob per word`` under the AR draft model (None without one): the sampler's fluency
        term. The draft model learned the same data as the teacher LM, so teacher lm-scores of edit-backend
        outputs are optimistic; the bigram precision is not affected.

        Each returned function caches its scores by the row's id tuple (a kept text is a candidate again at every
        revision step, and the proposals score the same texts as the ranking): a row is forwarded once per
        function, i.e. once per call that asks for a fluency function; no cache outlives that call."""
        if self.draft_model is None:
            return None
        ar = self.draft()
        cache: dict[tuple[int, ...], float] = {}

        def score(rows: list[list[int]]) -> list[float]:
            keys = [tuple(int(i) for i in r) for r in rows]
            todo = list(dict.fromkeys(k for k in keys if k not in cache))
            if todo:
                with torch.no_grad():
                    width = min(ar.config.seq_len, 2 + max(map(len, todo)))  # causal: right padding changes nothing
                    ids = encode_batch([list(k) for k in todo], width)
                    cache.update(zip(todo, (-ar.nll(ids) / ar.token_counts(ids).clamp(min=1)).tolist(), strict=True))
            return [cache[k] for k in keys]
        return score

    def _probes(self, drafts: int = 512) -> list[list[int]]:
        """``drafts`` AR drafts (seed 0), drawn once per loaded model: what phrases and lexicons are probed from."""
        if self._probe_rows is None:
            with torch.no_grad():
                sample = self.draft().sample(drafts, generator=torch.Generator().manual_seed(0), allow_unk=False)
            self._probe_rows = [words_of(r) for r in sample]
        return self._probe_rows

    def phrases(self, prepared: PreparedConstraint | None) -> list[list[int]]:
        """Phrases the proposals may write: for each check-only leaf (no hard face, not a per-word label
        constraint), the shortest spans of the probed AR drafts that meet it on their own
        (:func:`probe_phrases`), cached per leaf. Empty without a draft model."""
        if prepared is None or self.draft_model is None:
            return []
        leaves = local_leaves(prepared)
        for c in leaves:
            if repr(c) not in self._phrases:
                self._phrases[repr(c)] = probe_phrases([c], self._probes(), self.tokenizer.vocab,
                                                       self.tokenizer.detokenize)
        return [p for c in leaves for p in self._phrases[repr(c)]]

    def phrases_for(self, prepared: PreparedConstraint | None) -> Phrases:
        """The phrases the proposals may write to a text: with two or more local leaves (a whole MR), ``row ->`` the
        :meth:`phrases` of the leaves that row does not meet yet (a met leaf's phrase cannot raise its score, and
        trying 24 phrases at every slot of every kept text made the slot checks most of an MR's time); else the
        list itself."""
        leaves = local_leaves(prepared) if prepared is not None and self.draft_model is not None else []
        every = self.phrases(prepared)
        if len(leaves) < 2:
            return every
        vocab, detok = self.tokenizer.vocab, self.tokenizer.detokenize

        def needed(row: Sequence[int]) -> list[list[int]]:
            text = [detok([vocab.word(i) for i in row])]
            return [p for c in leaves if c.score(text)[0] < 1.0 for p in self._phrases[repr(c)]]
        return needed

    def proposer(self, prepared: PreparedConstraint | None) -> PatternProposer | None:
        """Pattern proposals (:mod:`.edit_pattern`) for the per-word label leaves (``POS``, ``SyntaxTree``), their
        lexicons probed from the AR drafts and cached per constraint class (one labeller per class: the POS
        tagger, the parser); ``None`` without such a leaf or a draft model."""
        if prepared is None or self.draft_model is None:
            return None
        leaves = [t.constraint for t in prepared.terms if isinstance(t.constraint, WordLabelled)
                  and CHECK in t.faces]
        if not leaves:
            return None
        for c in leaves:
            if type(c) not in self._lexicons:
                vocab = self.tokenizer.vocab
                words = [[vocab.word(i) for i in r] for r in self._probes()]
                self._lexicons[type(c)] = build_lexicon(c, words, vocab, LEXICON_SHARE)
        return PatternProposer(leaves, [self._lexicons[type(c)] for c in leaves], self.model.generator,
                               self.tokenizer.vocab, device_of(self.model.tagger))
