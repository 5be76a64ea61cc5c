"""Edit diffusion (DiffusER): word-level edit corruption, gold reverse edits and Levenshtein alignment.
Math only; the tagger and generator are passed in elsewhere.

**Edit scripts.** An :class:`EditScript` for a source of ``n`` ids has ``n + 1`` tags and ``n + 1``
spans, aligned with ``[slot0, tok1, ..., tokn]``. Slot 0 is a virtual start-of-sequence position (the
START token of the tagger's input) whose tag is KEEP or INSERT; it is what lets text be inserted at
position 0. For the token at position ``k ≥ 1`` (``source[k - 1]``):

- ``KEEP``:    keep the token; span ``()``.
- ``DELETE``:  drop the token; span ``()``.
- ``REPLACE``: drop the token and write ``spans[k]`` (≥ 1 ids, any length) in its place.
- ``INSERT``:  keep the token and write ``spans[k]`` (≥ 1 ids) right after it (on slot 0: at the start).

Each position carries at most one tag, so "substitute, then insert after" is one REPLACE with a longer
span. Scripts built here are canonical: a REPLACE never starts with the token it replaces and never
stands where DELETE would do. ``cost`` counts unit word operations (DELETE 1, INSERT ``len(span)``,
REPLACE ``len(span)`` = one substitution plus insertions); for :func:`align` it is the Levenshtein
distance. Ids are plain word ids (strip START/END/PAD first); they are lists of ints or 1-D tensors.

The corruption (:class:`EditDiffusion`, :class:`EditDiffusionConfig`) lives in
:mod:`ctrlgen.backends.edit.corruption`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from ctrlgen.errors import DataError


class Edit(IntEnum):
    """Tagger classes; the values are the class ids."""

    KEEP = 0
    DELETE = 1
    REPLACE = 2
    INSERT = 3


_SCRIPT_HINT = "tags and spans have len(source) + 1 entries; see ctrlgen.backends.edit.edits for the layout"


@dataclass(frozen=True)
class EditScript:
    """Edits for one source sequence (layout in the module docstring). ``tags``: ``n + 1`` :class:`Edit`;
    ``spans``: ``n + 1`` tuples of ids (empty unless the tag is REPLACE or INSERT). Invalid scripts raise
    ``DataError``. ``torch.tensor(script.tags)`` is the tagger's target, ``LongTensor[n + 1]``."""

    tags: tuple[Edit, ...]
    spans: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        try:
            tags = tuple(Edit(int(t)) for t in self.tags)
        except ValueError:
            raise DataError(f"edit tags must be in {[int(e) for e in Edit]}, got {list(self.tags)}", _SCRIPT_HINT) from None
        spans = tuple(tuple(int(i) for i in s) for s in self.spans)
        object.__setattr__(self, "tags", tags)
        object.__setattr__(self, "spans", spans)
        if not tags or len(tags) != len(spans):
            raise DataError(f"an edit script needs equally many (≥ 1) tags and spans, got {len(tags)} and {len(spans)}",
                            _SCRIPT_HINT)
        if tags[0] not in (Edit.KEEP, Edit.INSERT):
            raise DataError(f"slot 0 can only be KEEP or INSERT, got {tags[0].name}",
                            "slot 0 is the start position, not a token; tag the first token instead")
        for k, (tag, span) in enumerate(zip(tags, spans)):
            if (tag in (Edit.REPLACE, Edit.INSERT)) != bool(span):
                raise DataError(f"position {k}: {tag.name} with a span of {len(span)} ids",
                                "REPLACE and INSERT need a non-empty span; KEEP and DELETE an empty one")

    @classmethod
    def keep_all(cls, n: int) -> EditScript:
        """The identity script for a source of ``n`` ids."""
        return cls((Edit.KEEP,) * (n + 1), ((),) * (n + 1))

    @property
    def source_length(self) -> int:
        return len(self.tags) - 1

    @property
    def target_length(self) -> int:
        """Length of ``apply_edits(source, self)``."""
        kept = sum(t in (Edit.KEEP, Edit.INSERT) for t in self.tags[1:])
        return kept + sum(len(s) for s in self.spans)

    @property
    def span_lengths(self) -> tuple[int, ...]:
        """Ids to generate per position (``n + 1``): the generator's length targets."""
        return tuple(len(s) for s in self.spans)

    @property
    def num_edits(self) -> int:
        """Positions whose tag is not KEEP."""
        return sum(t != Edit.KEEP for t in self.tags)

    @property
    def cost(self) -> int:
        """Unit word operations (insert / delete / substitute one id, cost 1 each) the script stands for."""
        return sum(1 if t == Edit.DELETE else len(s) for t, s in zip(self.tags, self.spans))


def apply_edits(source: Sequence[int], edits: EditScript) -> list[int]:
    """The target ids that ``edits`` make of ``source``."""
    source = [int(i) for i in source]
    if edits.source_length != len(source):
        raise DataError(f"the edit script is for {edits.source_length} ids, the source has {len(source)}", _SCRIPT_HINT)
    out = list(edits.spans[0])
    for tok, tag, span in zip(source, edits.tags[1:], edits.spans[1:]):
        if tag in (Edit.KEEP, Edit.INSERT):
            out.append(tok)
        out.extend(span)  # empty for KEEP and DELETE
    return out


_Move = tuple[Edit, int | None]  # (KEEP | DELETE, None), (REPLACE, new id) on the next source token; (INSERT, id)


def _script(source: Sequence[int], moves: Sequence[_Move]) -> EditScript:
    """The canonical script for unit moves listed left to right over ``source`` (shared by the corruption's
    reverse edits and the alignment). An (INSERT, id) move writes into the gap after the last token moved on."""
    ops: list[_Move] = []
    ins: list[list[int]] = [[]]  # per gap 0..n: ids inserted after token k (gap 0: at the start)
    for op, new in moves:
        if op == Edit.INSERT:
            ins[-1].append(new)  # type: ignore[arg-type]
        else:
            ops.append((op, new))
            ins.append([])
    tags, spans = [Edit.INSERT if ins[0] else Edit.KEEP], [tuple(ins[0])]
    for tok, (op, new), after in zip(source, ops, ins[1:]):
        if op == Edit.REPLACE and new == tok:  # a "substitution" by the same id is a keep
            op = Edit.KEEP
        if op == Edit.KEEP:
            tags.append(Edit.INSERT if after else Edit.KEEP)
        else:  # delete; substitute (+ insert); delete + insert = replace by the inserted ids
            tags.append(Edit.REPLACE if op == Edit.REPLACE or after else Edit.DELETE)
        spans.append((() if new is None or op != Edit.REPLACE else (new,)) + tuple(after))
    return EditScript(tuple(tags), tuple(spans))


# ---------------------------------------------------------------------------------------------- alignment
def edit_distance(source: Sequence[int], target: Sequence[int]) -> int:
    """Levenshtein distance with unit insert / delete / substitute costs."""
    a, b = list(source), list(target)
    return _table(a, b)[-1][-1] // (len(a) + len(b) + 1)


def _table(a: list[int], b: list[int]) -> list[list[int]]:
    """``D[i][j] = K·dist + subs``, ``K = len(a) + len(b) + 1``: the Levenshtein distance between ``a[:i]``
    and ``b[:j]`` and, to break its ties, the fewest substitutions; ``(len(a) + 1) × (len(b) + 1)``."""
    k = len(a) + len(b) + 1
    d = [[k * j for j in range(len(b) + 1)]]
    for i, x in enumerate(a, 1):
        prev, row = d[-1], [k * i]
        for j, y in enumerate(b, 1):
            row.append(min(prev[j - 1] + (x != y) * (k + 1), prev[j] + k, row[j - 1] + k))
        d.append(row)
    return d


def align(source: Sequence[int], target: Sequence[int]) -> EditScript:
    """A minimal edit script from ``source`` to ``target``: ``script.cost == edit_distance(source, target)``
    (O(n·m) time). Deterministic tie-breaking: among minimal scripts, the fewest substitutions (so the most
    KEEPs); remaining ties by a backtrace from the ends of both sequences that takes the first optimal move
    in the order match, substitute, delete, insert, so trailing tokens pair with trailing tokens and edits
    sit as far left as possible: ``[a] → [a, a]`` is an INSERT on slot 0, ``[a, a] → [a]`` deletes the
    first ``a``, ``[a, b] → [b, a]`` inserts ``b`` on slot 0 and deletes the last ``b``."""
    a, b = [int(i) for i in source], [int(i) for i in target]
    d, k = _table(a, b), len(a) + len(b) + 1
    moves: list[_Move] = []  # right to left
    i, j = len(a), len(b)
    while i or j:
        if i and j and d[i][j] == d[i - 1][j - 1] + (a[i - 1] != b[j - 1]) * (k + 1):  # match, else substitute
            moves.append((Edit.KEEP, None) if a[i - 1] == b[j - 1] else (Edit.REPLACE, b[j - 1]))
            i, j = i - 1, j - 1
        elif i and d[i][j] == d[i - 1][j] + k:
            moves.append((Edit.DELETE, None))
            i -= 1
        else:
            moves.append((Edit.INSERT, b[j - 1]))
            j -= 1
    return _script(a, moves[::-1])


__all__ = ["Edit", "EditScript", "align", "apply_edits", "edit_distance"]
