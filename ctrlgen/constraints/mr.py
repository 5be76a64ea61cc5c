"""``MR``: a whole E2E meaning representation as one constraint (data-to-text with an unconditional model).

```python
import ctrlgen

mr = ctrlgen.MR.parse("name[The Vaults], eatType[pub], food[Japanese], near[Café Adriatic]")
mr.fields                      # {'name': 'The Vaults', 'eatType': 'pub', 'food': 'Japanese', 'near': 'Café Adriatic'}
c = mr.constraint()            # SemanticField('name', 'The Vaults') & SemanticField('eatType', 'pub') & ...
mr.check(["The Vaults is a Japanese pub near Café Adriatic ."])   # per text: {field: realised?}
```

``mr.constraint()`` is the :class:`~ctrlgen.constraints.composition.AllOf` of one :class:`SemanticField` per field:
it goes wherever a constraint goes (``gen.generate(constraints=mr.constraint())``), and the report lists every field. Parsing uses
the E2E grammar (:func:`ctrlgen.text.e2e.parse_mr`): an unknown field gets a "did you mean", an empty value or a
field given twice is refused, before any sampling.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ctrlgen.constraints.base import ConstraintError, as_texts
from ctrlgen.constraints.composition import AllOf
from ctrlgen.constraints.semantic import SemanticField
from ctrlgen.errors import MRParseError
from ctrlgen.text.e2e import E2E_FIELDS, parse_mr

_HINT = "write fields as field[value] separated by commas, e.g. 'name[The Vaults], eatType[pub], food[Japanese]'"


@dataclass(frozen=True)
class MR:
    """An E2E meaning representation: ``{field: value}`` in the order given (at least one field)."""

    pairs: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        if not self.pairs:
            raise ConstraintError("an MR needs at least one field", _HINT)
        seen: set[str] = set()
        for field, value in self.pairs:
            if field not in E2E_FIELDS:
                close = difflib.get_close_matches(str(field), E2E_FIELDS, n=1)
                raise ConstraintError(f"MR: unknown field {field!r}", (f"did you mean {close[0]!r}? " if close else "")
                                      + f"fields are {', '.join(E2E_FIELDS)}")
            if not isinstance(value, str) or not value.strip():
                raise ConstraintError(f"MR: field {field!r} has an empty value", _HINT)
            if field in seen:
                raise ConstraintError(f"MR: field {field!r} given twice", "an E2E field holds one value")
            seen.add(field)

    @classmethod
    def parse(cls, text: str) -> MR:
        """``"name[The Vaults], eatType[pub]"`` → ``MR``; malformed text raises :class:`ConstraintError`."""
        if not isinstance(text, str):
            raise ConstraintError(f"MR.parse needs a str, got {type(text).__name__}", _HINT)
        try:
            fields = parse_mr(text, where="MR")
        except MRParseError as e:
            raise ConstraintError(e.message, e.hint or _HINT) from None
        return cls(tuple(fields.items()))

    @classmethod
    def of(cls, fields: Mapping[str, str]) -> MR:
        """From a mapping ``{field: value}``."""
        return cls(tuple(fields.items()))

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.pairs)

    def constraints(self, *, allow_unk: bool = False) -> list[SemanticField]:
        """One :class:`SemanticField` per field, in order (``allow_unk``: place out-of-vocabulary words as
        ``[UNK]`` and write them back, instead of raising :class:`~ctrlgen.constraints.OutOfVocabularyError`)."""
        return [SemanticField(f, v, allow_unk=allow_unk) for f, v in self.pairs]

    def constraint(self, *, allow_unk: bool = False) -> AllOf:
        """All fields at once (their conjunction)."""
        return AllOf(*self.constraints(allow_unk=allow_unk))

    def check(self, texts: Sequence[str]) -> list[dict[str, bool]]:
        """Per text, whether each field is realised (the slot check of :class:`SemanticField`)."""
        texts = as_texts(texts)
        columns = {c.field: c.satisfied(texts) for c in self.constraints()}
        return [{f: columns[f][i] for f, _ in self.pairs} for i in range(len(texts))]

    def __str__(self) -> str:
        return ", ".join(f"{f}[{v}]" for f, v in self.pairs)
