"""Conflicts inside a composition, each a :class:`~ctrlgen.errors.ConstraintConflictError` naming both constraints.

* :func:`check_slots` (when composing): two leaves give one single-valued slot different values
  (:meth:`~.base.Constraint.exclusive_slot`; ``SemanticField("food", "Chinese") & SemanticField("food",
  "Japanese")``). The same value twice is fine.
* :func:`merge_hard` (when preparing): two leaves fix one position to different tokens (a ``Length`` shorter
  than an ``Infill`` template is one case); otherwise the merged :class:`~.base.HardSpec`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from ctrlgen.constraints.base import Constraint, HardSpec
from ctrlgen.errors import ConstraintConflictError
from ctrlgen.text.tokenizer import Tokenizer


def check_slots(leaves: Iterable[tuple[float, Constraint]]) -> None:
    """Raise ``ConstraintConflictError`` naming both leaves when two give one single-valued slot two values."""
    seen: dict[tuple[str, str], tuple[Constraint, Hashable]] = {}
    for _, leaf in leaves:
        slot = leaf.exclusive_slot()
        if slot is None:
            continue
        kind, name, value = slot
        first, first_value = seen.setdefault((kind, name), (leaf, value))
        if first_value != value:
            raise ConstraintConflictError(f"{first!r} and {leaf!r} give the {kind} {name!r} two values "
                                          f"({first_value!r} and {value!r})",
                                          f"pick one value for {name!r}: keep {first!r} or {leaf!r}, not both")


def merge_hard(items: Sequence[tuple[Constraint, HardSpec]], tokenizer: Tokenizer, seq_len: int) -> HardSpec | None:
    """Merge the hard specs of several constraints; ``None`` when there are none.

    Raises ``ConstraintConflictError`` naming both constraints when two fix a position differently.
    """
    if not items:
        return None
    positions: dict[int, int] = {}
    owner: dict[int, tuple[Constraint, HardSpec]] = {}
    unk: dict[int, str] = {}
    for c, spec in items:
        for p, tok in sorted(spec.positions.items()):
            if p in positions and positions[p] != tok:
                raise ConstraintConflictError(_conflict(p, owner[p], (c, spec), tokenizer),
                                              "drop one of them or make them agree; positions count from "
                                              "[START] = 0, so word k is at position k")
            positions[p] = tok
            owner.setdefault(p, (c, spec))
        unk.update(spec.unk_words)
    return HardSpec(seq_len, dict(sorted(positions.items())), unk)


def _conflict(p: int, a: tuple[Constraint, HardSpec], b: tuple[Constraint, HardSpec], tokenizer: Tokenizer) -> str:
    vocab = tokenizer.vocab

    def end(spec: HardSpec) -> int | None:
        return next((q for q, t in sorted(spec.positions.items()) if t == vocab.end_id), None)

    (ca, sa), (cb, sb) = a, b
    ea, eb = end(sa), end(sb)
    ta, tb = sa.positions[p], sb.positions[p]
    if ea is not None and eb is not None:
        return f"{ca!r} ends the text after {ea - 1} words but {cb!r} after {eb - 1} words"
    ending = {vocab.end_id, vocab.pad_id}
    if (ta in ending) != (tb in ending):
        (ce, e, te), (cw, tw) = ((ca, ea, ta), (cb, tb)) if ta in ending else ((cb, eb, tb), (ca, ta))
        ends = f"ends the text after {e - 1} words" if e is not None else f"fixes {vocab.word(te)} at position {p}"
        return f"{ce!r} {ends}, shorter than the fixed words of {cw!r} ({vocab.word(tw)!r} at position {p})"
    return f"{ca!r} fixes position {p} to {vocab.word(ta)!r} but {cb!r} fixes it to {vocab.word(tb)!r}"
