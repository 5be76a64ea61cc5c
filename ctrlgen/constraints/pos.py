"""``POS(tags)``: the text's words carry these universal POS tags, one per word, in order."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, ClassVar

from ctrlgen.constraints.base import ConstraintError, as_texts
from ctrlgen.constraints.classifier import ClassifierBacked, ClassifierRef
from ctrlgen.oracles.metrics import pos_match
from ctrlgen.oracles.pos import UPOS_TAGS, POSTagger, pos_tags


@dataclass(frozen=True, repr=False)
class POS(ClassifierBacked):
    """The text has ``len(tags)`` words tagged ``tags`` (the 17 UPOS tags, :attr:`TAGS`).

    ``tags``: a sequence, or one string split at commas or spaces (``"PROPN,AUX,DET,NOUN,PUNCT"``).
    Check face: the spaCy oracle (:mod:`ctrlgen.oracles.pos`) tags the text; ``score`` is the share
    of target positions matched (:func:`~ctrlgen.oracles.metrics.pos_match`, Diffusion-LM's metric) and
    ``satisfied`` means every tag matches and the word count is exact. Soft faces: the ``pos.v1``
    classifier beside an embedding model (latents), ``pos-token.v1`` beside a word-level discrete one (noisy
    tokens, first-order rate reweighting — the path ``SemanticField`` takes there); both also score ``[END]``
    after the last tag and ``[PAD]`` after it — so they steer the length too; add ``Length(len(tags))`` to pin
    the length exactly. Where no steering fits, ``gen.best_of(n, rerank=R, constraints=POS(...))`` keeps the
    samples the check face likes best.
    """

    tags: tuple[str, ...]
    classifier: ClassifierRef | None = dc_field(default=None, kw_only=True)  # None: "pos.v1" beside the model

    default_classifiers: ClassVar[dict[str, str]] = {"embedding": "pos.v1", "token": "pos-token.v1"}
    TAGS: ClassVar[tuple[str, ...]] = UPOS_TAGS

    def __post_init__(self) -> None:
        tags = self.tags
        if isinstance(tags, str):
            tags = [t for t in re.split(r"[,\s]+", tags) if t]
        try:
            tags = tuple(tags)
        except TypeError:
            raise ConstraintError(f"POS: tags must be a sequence of UPOS tags, got {self.tags!r}",
                                  "e.g. POS(['PROPN', 'AUX', 'DET', 'NOUN', 'PUNCT'])") from None
        if not tags:
            raise ConstraintError("POS: no tags given", "pass one UPOS tag per word, e.g. POS('DET,NOUN,PUNCT')")
        bad = sorted({t for t in tags if t not in UPOS_TAGS}, key=str)
        if bad:
            raise ConstraintError(f"POS: {', '.join(map(repr, bad))} not in the tag set",
                                  f"use the universal POS tags: {', '.join(UPOS_TAGS)}")
        object.__setattr__(self, "tags", tags)

    def validate(self, seq_len: int) -> None:
        if len(self.tags) + 2 > seq_len:
            raise ConstraintError(f"POS: {len(self.tags)} tags need {len(self.tags) + 2} positions ([START], the "
                                  f"words, [END]) but seq_len is {seq_len}",
                                  f"give at most {seq_len - 2} tags, or use a model with a longer seq_len")

    def classifier_target(self) -> Any:
        return list(self.tags)

    @staticmethod
    def tag_words(sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """The oracle: UPOS tags of word lists (one per word), as the check face uses it (memoised, shared)."""
        return POSTagger().tag_words(sentences)

    @property
    def word_labels(self) -> tuple[str, ...]:
        """The target tags (:class:`~ctrlgen.constraints.WordLabelled`: the edit backend rewrites toward them)."""
        return self.tags

    def label_words(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """The oracle's tags of word lists in context (:meth:`tag_words`)."""
        return self.tag_words(sentences)

    def _tags(self, texts: Sequence[str]) -> list[list[str]]:
        return pos_tags(as_texts(texts))

    def score(self, texts: Sequence[str]) -> list[float]:
        return [pos_match(p, self.tags) for p in self._tags(texts)]

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return [list(p) == list(self.tags) for p in self._tags(texts)]

    def judge(self, texts: Sequence[str]) -> tuple[list[bool], list[float]]:
        """Tags each text once; both verdicts and scores come from those tags."""
        tags = self._tags(texts)
        return [list(p) == list(self.tags) for p in tags], [pos_match(p, self.tags) for p in tags]

    def __repr__(self) -> str:
        return f"POS({','.join(self.tags)!r})"
