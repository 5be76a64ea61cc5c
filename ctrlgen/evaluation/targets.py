"""Control targets: built from held-out references, read and written as JSON lines.

One target per line. Word lists are Diffusion-LM's ``words_``: ``"START"``, the words, ``"END"``, so
``words_[p]`` is the word at sequence position ``p`` (``[START]`` = 0, word ``k`` at ``k + 1``).
Word indices *inside* a record (spans) count words only, as in :mod:`ctrlgen.oracles.metrics`.

- ``pos``: ``{"pos": ["START", "PROPN", …, "END"], "words_": ["START", "Zizzi", …, "END"]}``
  (Diffusion-LM's ``target_pos.json``; one tag per word)
- ``spans``: ``{"words_": ["START", …, "END"], "spans": [[3, 5, "NP"]]}`` (``target_spans.json``)
- ``semantic``: ``["name", ":", "The", "Vaults"]`` (``target_attribute.json``: field words, colon, value words)
- ``tree``: ``{"tree": "(TOP (S …))", "words_": ["START", …, "END"]}`` (ctrlgen)
- ``length``: ``{"length": 12, "words_": ["START", …, "END"]}``, ``words_`` optional (ctrlgen)
- ``infill``: ``{"template": "The Vaults is a [MASK:3] .", "reference": "The Vaults is a cheap pub ."}`` (ctrlgen)
- ``semantic+pos`` / ``semantic+tree``: the ``pos`` / ``tree`` record plus ``"semantic": ["food", ":", …]``
  (ctrlgen; the composite targets of :mod:`.composite`, which adds them to :data:`TARGET_KINDS`)

Reading Diffusion-LM's own files: their word lists end in a ``"\\n"`` word that ctrlgen's tokenizer
never produces; it is dropped (with its POS tag; a span ending on it is clipped). ``length`` counts
words without ``START``/``END`` (so ``[END]`` sits at position ``length + 1``), like
:func:`~ctrlgen.evaluation.length_success`. Semantic records name fields as Diffusion-LM's E2E
preprocessing did (``Type`` = eatType, ``price`` = priceRange, ``customer rating``, ``family friendly``);
:data:`DLM_FIELD_WORDS` maps each E2E field to those words and :func:`field_from_words` back (it also
accepts the E2E spelling and the first words ``customer`` / ``family`` alone). A value read back is its
words joined by spaces (``"£ 20 - 25"`` for ``£20-25``), which :func:`semantic_success` treats alike.

Builders (in :mod:`.target_builders`) take an E2E CSV path or :class:`~ctrlgen.text.E2EExample` rows, use each distinct reference
once (file order), and with ``n`` pick ``n`` of them with ``random.Random(seed)`` (kept in file order).
Trees and spans need a constituency parser, passed as ``parse``; POS targets default to the oracle of
:mod:`ctrlgen.oracles.pos`. Both are *batched*: ``list of word lists → list of results``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ctrlgen.constraints.infill import parse_template
from ctrlgen.errors import ConfigError, CtrlgenError, DataError
from ctrlgen.oracles.metrics import Span, _as_tree, _strip_markers, read_span_target
from ctrlgen.text.e2e import E2E_FIELDS
from ctrlgen.text.tokenizer import split_words

NEWLINE = "\n"  # Diffusion-LM's end-of-text word
#: E2E field → the words Diffusion-LM's semantic targets use for it.
DLM_FIELD_WORDS: dict[str, tuple[str, ...]] = {
    "name": ("name",), "eatType": ("Type",), "food": ("food",), "priceRange": ("price",),
    "customer rating": ("customer", "rating"), "area": ("area",), "familyFriendly": ("family", "friendly"),
    "near": ("near",),
}
_FIELD_ALIASES: dict[str, str] = {
    **{" ".join(w): f for f, w in DLM_FIELD_WORDS.items()}, **{f: f for f in E2E_FIELDS},
    "customer": "customer rating", "family": "familyFriendly", "price range": "priceRange",
}


def field_words(field: str) -> list[str]:
    """E2E field (``"eatType"``) → Diffusion-LM's field words (``["Type"]``)."""
    if field not in DLM_FIELD_WORDS:
        raise ConfigError(f"unknown E2E field {field!r}", hint=f"fields are {', '.join(E2E_FIELDS)}")
    return list(DLM_FIELD_WORDS[field])


def field_from_words(words: Sequence[str]) -> str:
    """Diffusion-LM's field words (``["Type"]``, ``["customer", "rating"]``, ``["family"]``) → E2E field."""
    key = " ".join(words)
    if key not in _FIELD_ALIASES:
        raise DataError(f"unknown semantic field {key!r}",
                        hint=f"use one of {sorted(set(_FIELD_ALIASES))} before the ':'")
    return _FIELD_ALIASES[key]


def _marked(words: Sequence[str]) -> list[str]:
    return ["START", *words, "END"]


def _unmarked(words: Sequence[str]) -> tuple[str, ...]:
    out = _strip_markers(words)
    return tuple(out[:-1] if out and out[-1] == NEWLINE else out)


def _tuple(obj: Any, name: str) -> None:
    object.__setattr__(obj, name, tuple(getattr(obj, name)))


# ------------------------------------------------------------------------------------------ targets
@dataclass(frozen=True)
class PosTarget:
    """Word-level UPOS tags to reach (``words``: the source sentence the tags came from)."""

    kind: ClassVar[str] = "pos"
    example: ClassVar[Any] = {"pos": ["START", "DET", "NOUN", "END"], "words_": ["START", "The", "pub", "END"]}
    words: tuple[str, ...]
    tags: tuple[str, ...]

    def __post_init__(self) -> None:
        _tuple(self, "words")
        _tuple(self, "tags")
        if len(self.words) != len(self.tags) or not self.tags:
            raise DataError(f"a POS target needs one tag per word, got {len(self.words)} words and "
                            f"{len(self.tags)} tags", hint="pass aligned words and UPOS tags: ('The',) / ('DET',)")

    def to_record(self) -> dict[str, list[str]]:
        return {"pos": _marked(self.tags), "words_": _marked(self.words)}

    @classmethod
    def from_record(cls, rec: Any) -> PosTarget:
        words, tags = _strip_markers(rec["words_"]), _strip_markers(rec["pos"])
        if words and words[-1] == NEWLINE and len(tags) == len(words):
            words, tags = words[:-1], tags[:-1]
        return cls(tuple(words), tuple(tags))


@dataclass(frozen=True)
class SpanTarget:
    """Constituents to produce: ``(i, j, label)`` over words ``i`` … ``j`` (0-based, inclusive)."""

    kind: ClassVar[str] = "spans"
    example: ClassVar[Any] = {"words_": ["START", "The", "pub", "END"], "spans": [[0, 1, "NP"]]}
    words: tuple[str, ...]
    spans: tuple[Span, ...]

    def __post_init__(self) -> None:
        _tuple(self, "words")
        object.__setattr__(self, "spans", tuple((int(a), int(b), str(lab)) for a, b, lab in self.spans))
        for a, b, lab in self.spans:
            if not 0 <= a <= b < len(self.words):
                raise DataError(f"span {(a, b, lab)} does not fit the {len(self.words)} words",
                                hint="spans are 0-based word indices, both inclusive, not counting START")

    def to_record(self) -> dict[str, list[Any]]:
        return {"words_": _marked(self.words), "spans": [list(s) for s in self.spans]}

    @classmethod
    def from_record(cls, rec: Any) -> SpanTarget:
        words, spans = read_span_target(rec)  # drops START/END and Diffusion-LM's "\n" word
        return cls(tuple(words), tuple(spans))


@dataclass(frozen=True)
class SemanticTarget:
    """An E2E field and the value a text must mention (``field`` spelled as in :data:`E2E_FIELDS`)."""

    kind: ClassVar[str] = "semantic"
    example: ClassVar[Any] = ["food", ":", "Japanese"]
    field: str
    value: str

    def __post_init__(self) -> None:
        field_words(self.field)  # validates
        if not split_words(self.value):
            raise DataError(f"semantic target {self.field!r} has an empty value", hint="pass e.g. 'Japanese'")

    @property
    def value_words(self) -> list[str]:
        return split_words(self.value)

    def to_record(self) -> list[str]:
        return [*field_words(self.field), ":", *self.value_words]

    @classmethod
    def from_record(cls, rec: Any) -> SemanticTarget:
        k = rec.index(":")
        return cls(field_from_words(rec[:k]), " ".join(rec[k + 1:]))


@dataclass(frozen=True)
class TreeTarget:
    """A constituency tree to follow, kept as a one-line bracketed string (an ``nltk.Tree`` is converted);
    ``words`` are its leaves unless given (as many as the leaves)."""

    kind: ClassVar[str] = "tree"
    example: ClassVar[Any] = {"tree": "(S (NP (DT The) (NN pub)))", "words_": ["START", "The", "pub", "END"]}
    tree: str
    words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        tree = _as_tree(self.tree)  # DataError with a hint when malformed
        object.__setattr__(self, "tree", tree.pformat(margin=1 << 30) if not isinstance(self.tree, str)
                           else " ".join(self.tree.split()))
        leaves = tuple(str(w) for w in tree.leaves())
        object.__setattr__(self, "words", tuple(self.words) or leaves)
        if len(self.words) != len(leaves):
            raise DataError(f"the tree has {len(leaves)} leaves but {len(self.words)} words were given",
                            hint="pass the words the tree was parsed from, or none to use its leaves")

    def to_record(self) -> dict[str, Any]:
        return {"tree": self.tree, "words_": _marked(self.words)}

    @classmethod
    def from_record(cls, rec: Any) -> TreeTarget:
        return cls(rec["tree"], _unmarked(rec.get("words_", ())))


@dataclass(frozen=True)
class LengthTarget:
    """A number of words (``START``/``END`` not counted); ``words``: the source sentence, optional."""

    kind: ClassVar[str] = "length"
    example: ClassVar[Any] = {"length": 12}
    length: int
    words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _tuple(self, "words")
        if isinstance(self.length, bool) or not isinstance(self.length, int) or self.length < 1:
            raise DataError(f"a length target must be an int >= 1, got {self.length!r}", hint="e.g. 12")
        if self.words and len(self.words) != self.length:
            raise DataError(f"length {self.length} but {len(self.words)} words",
                            hint="omit the words or fix the length")

    def to_record(self) -> dict[str, Any]:
        return {"length": self.length, **({"words_": _marked(self.words)} if self.words else {})}

    @classmethod
    def from_record(cls, rec: Any) -> LengthTarget:
        return cls(rec["length"], _unmarked(rec.get("words_", ())))


@dataclass(frozen=True)
class InfillCase:
    """A template with holes (``[MASK:k]``, see :class:`ctrlgen.Infill`) and the reference text it came
    from (builders write both as ctrlgen words joined by spaces)."""

    kind: ClassVar[str] = "infill"
    example: ClassVar[Any] = {"template": "The Vaults is a [MASK:2] .", "reference": "The Vaults is a cheap pub ."}
    template: str
    reference: str

    def __post_init__(self) -> None:
        if self.n_hole_tokens == 0:
            raise DataError(f"infill template {self.template!r} has no hole",
                            hint="write holes as [MASK:k], e.g. 'The Vaults is a [MASK:3] pub .'")

    def _layout(self) -> tuple[dict[int, str], int, int]:
        return parse_template(self.template)

    @property
    def n_hole_tokens(self) -> int:
        return self._layout()[2]

    @property
    def holes(self) -> list[int]:
        """Sequence positions of the hole tokens (``[START]`` = 0)."""
        words, n, _ = self._layout()
        return [p for p in range(1, n + 1) if p not in words]

    def to_record(self) -> dict[str, str]:
        return {"template": self.template, "reference": self.reference}

    @classmethod
    def from_record(cls, rec: Any) -> InfillCase:
        return cls(str(rec["template"]), str(rec["reference"]))


Target = PosTarget | SpanTarget | SemanticTarget | TreeTarget | LengthTarget | InfillCase
TARGET_KINDS: dict[str, Any] = {c.kind: c for c in (PosTarget, SpanTarget, SemanticTarget, TreeTarget,
                                                      LengthTarget, InfillCase)}


# ---------------------------------------------------------------------------------------- JSON lines
def write_targets(path: str | os.PathLike, targets: Iterable[Target]) -> int:
    """Write one JSON line per target (``ensure_ascii`` off: ``Café`` stays readable); returns the count."""
    lines = [json.dumps(t.to_record(), ensure_ascii=False) for t in targets]
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


def read_targets(path: str | os.PathLike, kind: str) -> list[Any]:
    """Read a JSON-lines target file of ``kind`` (a key of :data:`TARGET_KINDS`); blank lines skipped."""
    if kind not in TARGET_KINDS:
        raise ConfigError(f"unknown target kind {kind!r}", hint=f"kinds are {', '.join(TARGET_KINDS)}")
    cls, p = TARGET_KINDS[kind], Path(path)
    if not p.is_file():
        raise DataError(f"target file {p} does not exist", hint="write one with write_targets()")
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(cls.from_record(json.loads(line)))
        except CtrlgenError as e:  # a malformed value (e.g. a bad hole): name the line
            raise DataError(f"{p.name} line {n}: {e.message}", hint=e.hint) from e
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(f"{p.name} line {n} is not a {kind} target: {line[:80]!r}",
                            hint=f"a {kind} line looks like {json.dumps(cls.example, ensure_ascii=False)}") from e
    return out
