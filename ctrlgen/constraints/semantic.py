"""``SemanticField(field, value)``: the text expresses an E2E slot (``food = Japanese``)."""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, ClassVar

from ctrlgen.constraints.base import ConstraintError, as_texts
from ctrlgen.constraints.classifier import ClassifierBacked, ClassifierRef
from ctrlgen.oracles.slots import slot_realised
from ctrlgen.text.e2e import E2E_FIELDS


@dataclass(frozen=True, repr=False)
class SemanticField(ClassifierBacked):
    """The text mentions ``value`` for the E2E ``field`` (spelled as in the data: ``name``, ``eatType``,
    ``food``, ``priceRange``, ``customer rating``, ``area``, ``familyFriendly``, ``near``).

    Check face: the text realises ``value`` *as that field* (:func:`~ctrlgen.oracles.slots.slot_realised`, a slot
    check in the spirit of the E2E slot-error scripts): ``near Japanese`` is not ``food = Japanese``, "a high
    customer rating" is not ``priceRange = high``, ``familyFriendly = yes`` is "family friendly" and not "not
    family friendly". Diffusion-LM's plain whole-word match stays available as
    :func:`~ctrlgen.oracles.metrics.semantic_success` for comparison with the paper. Soft face: the ``semantic.v1``
    classifier saved beside the model (``ctrlgen train-classifier semantic``) or ``classifier=`` (a
    registered name, a saved directory or an instance): ``−log p(field = value | x_t, t)``. A value the
    classifier never saw for that field raises ``ConstraintError`` listing the ones it knows.
    """

    field: str
    value: str
    classifier: ClassifierRef | None = dc_field(default=None, kw_only=True)  # None: "semantic.v1" beside the model

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

    def classifier_target(self) -> Any:
        return (self.field, self.value)

    def exclusive_slot(self) -> tuple[str, str, Hashable]:
        """An E2E field holds one value: ``food=Chinese`` and ``food=Japanese`` conflict when composed."""
        return "E2E field", self.field, self.value

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return [slot_realised(t, self.field, self.value) for t in as_texts(texts)]

    def __repr__(self) -> str:
        return f"SemanticField({self.field!r}, {self.value!r})"
