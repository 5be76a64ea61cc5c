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
from ctrlgen.oracles.value_contexts import BUNDLED_CONTEXTS, ValueContexts, resolve_contexts, value_said
from ctrlgen.registry import SOFT_FACES
from ctrlgen.text.e2e import E2E_FIELDS


#: Fields whose values are open-ended names (a restaurant, a landmark): the edit backend inserts them as phrases.
OPEN_FIELDS = frozenset({"name", "near"})


@dataclass(frozen=True, repr=False)
class SemanticField(ClassifierBacked):
    """The text mentions ``value`` for the E2E ``field`` (spelled as in the data: ``name``, ``eatType``,
    ``food``, ``priceRange``, ``customer rating``, ``area``, ``familyFriendly``, ``near``).

    Check face: the text realises ``value`` *as that field* (:func:`~ctrlgen.oracles.slots.slot_realised`, a slot
    check in the spirit of the E2E slot-error scripts): ``near Japanese`` is not ``food = Japanese``, "a high
    customer rating" is not ``priceRange = high``, ``familyFriendly = yes`` is "family friendly" and not "not
    family friendly"; and one verbatim mention of the value stands where people write such a value
    (:mod:`ctrlgen.oracles.value_contexts`: not *The price range is moderate Zizzi .*; ``contexts`` is that table —
    the bundled E2E one, your own, or ``None`` for the slot rules alone). Diffusion-LM's plain whole-word match stays available as
    :func:`~ctrlgen.oracles.metrics.semantic_success` for comparison with the paper.

    Steering (``steer``): ``"auto"`` (the default) places the value's words — or a phrasing for values not said
    verbatim, *family friendly*, *high customer rating* — like ``Contains``, for **any** value, seen in training or
    not (:meth:`resolve`; ``report["served_by"]`` says so); ``"classifier"`` (or an explicit ``classifier=``) is
    Diffusion-LM's classifier guidance instead: the ``semantic.v1`` classifier saved beside the model (``ctrlgen
    train-classifier semantic``) or the one given (a registered name, a saved directory or an instance),
    ``−log p(field = value | x_t, t)``, which knows only the values it was trained on and raises
    ``ConstraintError`` listing them for any other. The edit backend inserts ``name`` / ``near`` values and revises
    the other fields by the check face.
    """

    field: str
    value: str
    classifier: ClassifierRef | None = dc_field(default=None, kw_only=True)  # None: "semantic.v1" beside the model
    steer: Literal["auto", "classifier", "phrase"] = dc_field(default="auto", kw_only=True)  # "auto" = "phrase"
    allow_unk: bool = dc_field(default=False, kw_only=True)  # phrase form: place unknown words as [UNK]
    contexts: ValueContexts | str | None = dc_field(default=BUNDLED_CONTEXTS, kw_only=True, repr=False, compare=False)

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
        if not (self.contexts is None or self.contexts == BUNDLED_CONTEXTS or isinstance(self.contexts, ValueContexts)):
            raise ConstraintError(f"SemanticField contexts must be a ValueContexts table, {BUNDLED_CONTEXTS!r} or None, "
                                  f"got {self.contexts!r}", "build one with ValueContexts.from_examples(...), or pass "
                                  "None for the slot rules alone")
        if self.steer not in ("auto", "classifier", "phrase"):
            raise ConstraintError(f"SemanticField: steer must be 'auto', 'classifier' or 'phrase', got {self.steer!r}",
                                  "'auto'/'phrase': place the value's words; 'classifier': classifier guidance")

    def resolve(self, backend: Backend, context: ModelContext | None) -> Constraint:
        """The form that serves this field here. ``steer="auto"``:

        - ``embedding``, ``discrete``: the value's phrasing placed by the backend
          (:class:`~ctrlgen.constraints.field_phrase.FieldPhrase`), for *any* value, seen in training or not;
        - ``edit``: the phrase inserted and revised around for the open fields (``name``, ``near``: new names are
          the common case and revisions cannot write words no draft has); the other fields keep the check-guided
          revisions, which replace the old value in place (fewer words changed).

        ``steer="phrase"`` places the phrase everywhere; ``steer="classifier"`` (or an explicit ``classifier=``)
        keeps classifier guidance, Diffusion-LM's method, which knows only its training values. Measured
        (``recipes/open_vocab.py``, 14 targets × 4, 6 unseen values, 1 thread, default steps): phrase 91.1% on
        ``e2e`` against 75.0% for classifier guidance on the seen values alone, 98.2% on ``e2e-sedd``, 100% on
        ``e2e-edit`` (its check-guided revisions reached 8% on unseen names); the README has the table.
        """
        if self.steer == "classifier" or self.classifier is not None:
            return self
        if self.steer == "auto" and not backend.faces & SOFT_FACES and self.field not in OPEN_FIELDS:
            return self  # edit backend, closed-set field: check-guided revisions replace the old value in place
        return FieldPhrase(self.field, self.value, allow_unk=self.allow_unk, contexts=self.contexts)

    def classifier_target(self) -> Any:
        return (self.field, self.value)

    def exclusive_slot(self) -> tuple[str, str, Hashable]:
        """An E2E field holds one value: ``food=Chinese`` and ``food=Japanese`` conflict when composed."""
        return "E2E field", self.field, self.value

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        table = resolve_contexts(self.contexts)
        return [value_said(t, self.field, self.value, table) for t in as_texts(texts)]

    def __repr__(self) -> str:
        return f"SemanticField({self.field!r}, {self.value!r})"
