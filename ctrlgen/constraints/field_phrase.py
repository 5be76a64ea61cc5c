"""``SemanticField`` for any value: a field value steered as a phrase, judged by the slot check.

A semantic classifier knows the values it was trained on; a restaurant that opened last week is not among them.
:meth:`SemanticField.resolve <ctrlgen.constraints.semantic.SemanticField.resolve>` therefore serves a value
through its *phrasing* whenever the model's classifier cannot (a value it never saw, or no classifier beside the
model): ``SemanticField("near", "The Golden Mill")`` is placed like ``Contains("The Golden Mill")`` — the backend
puts the words where its own model finds them likely (discrete: exact conditioning at a sampled placement) — and
judged by the slot check (:func:`~ctrlgen.oracles.slots.slot_realised`, with the value's context,
:mod:`ctrlgen.oracles.value_contexts`), so *near The Golden Mill* passes and *The Golden Mill is near* does not. Values that are not said verbatim have a phrasing of their own
(:data:`PHRASINGS`: ``familyFriendly = yes`` → *family friendly*, ``customer rating = high`` → *high customer
rating*, ...). The report keeps the constraint's name (``SemanticField('near', 'The Golden Mill')``) and says what
served it under ``report["served_by"]``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from ctrlgen.constraints.base import as_texts
from ctrlgen.constraints.contains import Contains
from ctrlgen.oracles.value_contexts import BUNDLED_CONTEXTS, ValueContexts, resolve_contexts, value_said

#: How a value that is not said verbatim is written when it is placed as a phrase.
PHRASINGS: dict[tuple[str, str], str] = {
    ("familyFriendly", "yes"): "family friendly",
    ("familyFriendly", "no"): "not family friendly",
    ("customer rating", "high"): "high customer rating",
    ("customer rating", "average"): "average customer rating",
    ("customer rating", "low"): "low customer rating",
    ("priceRange", "high"): "high price range",
    ("priceRange", "moderate"): "moderate price range",
    ("priceRange", "cheap"): "cheap",
}


def field_phrase(field: str, value: str) -> str:
    """The words that say ``field = value``: :data:`PHRASINGS`; ``near`` values after *near* (the slot check wants
    the cue), foods before *food* (*Japanese food*, so the word cannot land after *near*); else the value."""
    if (field, value) in PHRASINGS:
        return PHRASINGS[(field, value)]
    if field == "near":
        return f"near {value}"
    if field == "food" and not value.lower().endswith("food"):
        return f"{value} food"
    return value


class FieldPhrase(Contains):
    """``SemanticField(field, value)`` served by placing :func:`field_phrase` (the faces of :class:`Contains`) and
    judged by the slot check. Built by ``SemanticField.resolve``; its ``repr`` is the ``SemanticField``'s."""

    def __init__(self, field: str, value: str, *, allow_unk: bool = False,
                 contexts: ValueContexts | str | None = BUNDLED_CONTEXTS) -> None:
        super().__init__(field_phrase(field, value), allow_unk=allow_unk)
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "contexts", contexts)

    @property
    def served_by(self) -> str:
        return f"Contains({self.phrases[0]!r}): placed by the backend (hard), checked as a slot"

    def exclusive_slot(self) -> tuple[str, str, Hashable]:
        return "E2E field", self.field, self.value

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        table = resolve_contexts(self.contexts)
        return [value_said(t, self.field, self.value, table) for t in as_texts(texts)]

    def score(self, texts: Sequence[str]) -> list[float]:
        return [float(s) for s in self.satisfied(texts)]

    def judge(self, texts: Sequence[str]) -> tuple[list[bool], list[float]]:
        ok = self.satisfied(texts)
        return ok, [float(s) for s in ok]

    def __repr__(self) -> str:
        return f"SemanticField({self.field!r}, {self.value!r})"
