"""``SemanticField(field, value)``: the text expresses an E2E slot (``food = Japanese``)."""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, ClassVar, Literal

from ctrlgen.constraints.base import Backend, Constraint, ConstraintError, as_texts
from ctrlgen.constraints.classifier import ClassifierBacked, ClassifierRef
from ctrlgen.constraints.field_phrase import FieldPhrase
from ctrlgen.constraints.fingerprint import ModelContext  # noqa: TC001 (annotation)
from ctrlgen.oracles.slots import slot_realised
from ctrlgen.registry import SOFT_FACES
from ctrlgen.text.e2e import E2E_FIELDS


@dataclass(frozen=True, repr=False)
class SemanticField(ClassifierBacked):
    """The text mentions ``value`` for the E2E ``field`` (spelled as in the data: ``name``, ``eatType``,
    ``food``, ``priceRange``, ``customer rating``, ``area``, ``familyFriendly``, ``near``).

    Check face: the text realises ``value`` *as that field* (:func:`~ctrlgen.oracles.slots.slot_realised`, a slot
    check in the spirit of the E2E slot-error scripts): ``near Japanese`` is not ``food = Japanese``, "a high
    customer rating" is not ``priceRange = high``, ``familyFriendly = yes`` is "family friendly" and not "not
    family friendly". Diffusion-LM's plain whole-word match stays available as
    :func:`~ctrlgen.oracles.metrics.semantic_success` for comparison with the paper.

    Steering (``steer``): ``"auto"`` (the default) places the value's words — or a phrasing for values not said
    verbatim, *family friendly*, *high customer rating* — like ``Contains``, for **any** value, seen in training or
    not (:meth:`resolve`; ``report["served_by"]`` says so); ``"classifier"`` (or an explicit ``classifier=``) is
    Diffusion-LM's classifier guidance instead: the ``semantic.v1`` classifier saved beside the model (``ctrlgen
    train-classifier semantic``) or the one given (a registered name, a saved directory or an instance),
    ``−log p(field = value | x_t, t)``, which knows only the values it was trained on and raises
    ``ConstraintError`` listing them for any other. The edit backend always ranks and revises by the check face.
    """

    field: str
    value: str
    classifier: ClassifierRef | None = dc_field(default=None, kw_only=True)  # None: "semantic.v1" beside the model
    steer: Literal["auto", "classifier", "phrase"] = dc_field(default="auto", kw_only=True)  # "auto" = "phrase"
    allow_unk: bool = dc_field(default=False, kw_only=True)  # phrase form: place unknown words as [UNK]

    default_classifiers: ClassVar[dict[str, str]] = {"embedding": "semantic.v1", "token": "semantic-token.v1"}
    FIELDS: ClassVar[tuple[str, ...]] = E2E_FIELDS

    def __post_init__(self) -> None:
        if self.field not in E2E_FIELDS:
            close = difflib.get_close_matches(str(self.field), E2E_FIELDS, n=1)
            raise ConstraintError(f"SemanticField: unknown E2E field {self.field!r}",
                                  (f"did you mean {close[0]!r}? " if close else "")
                                  + f"fields are {', '.join(E2E_FIELDS)}")
        if not isinstance(self.value, str) or not self.value.strip():
            raise ConstraintError(f"SemanticField({self.field!r}, ...): value must be a non-empty string, "
                                  f"got {self.value!r}", "e.g. SemanticField('food', 'Japanese')")
        if self.field == "familyFriendly" and self.value not in ("yes", "no"):
            raise ConstraintError(f"SemanticField('familyFriendly', {self.value!r}): the value is 'yes' or 'no'",
                                  "e.g. SemanticField('familyFriendly', 'yes')")
        if self.steer not in ("auto", "classifier", "phrase"):
            raise ConstraintError(f"SemanticField: steer must be 'auto', 'classifier' or 'phrase', got {self.steer!r}",
                                  "'auto'/'phrase': place the value's words; 'classifier': classifier guidance")

    def resolve(self, backend: Backend, context: ModelContext | None) -> Constraint:
        """On a backend that steers with soft faces (``embedding``, ``discrete``), ``steer="auto"`` places the value's
        phrasing (:class:`~ctrlgen.constraints.field_phrase.FieldPhrase`) for *any* value, seen in training or not;
        ``steer="classifier"`` (or an explicit ``classifier=``) keeps classifier guidance, Diffusion-LM's method,
        which knows only its training values. Measured (12 fields × n=4, 6 of them known values, 1 thread,
        ``recipes/open_vocab.py``): phrase 45/48 on ``e2e`` (50 steps, 11 s) against 41/48
        for ``auto``-with-classifier (39 s), and 48/48 on ``e2e-sedd`` (32 steps, 13 s) where rate guidance reached
        47.5% on the control table. A backend without soft faces (``edit``) keeps the constraint: its check face
        ranks and proposes revisions."""
        if self.steer == "classifier" or self.classifier is not None or not backend.faces & SOFT_FACES:
            return self
        return FieldPhrase(self.field, self.value, allow_unk=self.allow_unk)

    def classifier_target(self) -> Any:
        return (self.field, self.value)

    def exclusive_slot(self) -> tuple[str, str, Hashable]:
        """An E2E field holds one value: ``food=Chinese`` and ``food=Japanese`` conflict when composed."""
        return "E2E field", self.field, self.value

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return [slot_realised(t, self.field, self.value) for t in as_texts(texts)]

    def __repr__(self) -> str:
        return f"SemanticField({self.field!r}, {self.value!r})"
