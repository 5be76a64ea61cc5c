"""Where a field's value stands in text people wrote: the context half of ``SemanticField``'s check.

The slot rules of :mod:`ctrlgen.oracles.slots` read what a mention of the value says; they cannot list every way a
garbled text tacks a value on where no one would write it: *The price range is moderate Zizzi .*, *a pub with fast
food Aromi ,*, *… in a family friendly setting The Waterman .* — a name after a price, a food or a noun, saying
nothing of the place. What those have in common is the words around the mention: E2E references never put a name
between *moderate* and *.*, nor after *food*. So the check also asks that **one** verbatim mention of the value
stand between a word before it and a word after it that some reference of the training data has around a value of
the same field — delexicalised: any name counts for ``name`` (*<s> … is*, *called … .*), so a name the data never
had is judged by the same contexts.

- The word before is lower-cased, and a sentence stop (*.*, *!*, *?*) before the mention counts as the sentence
  start ``<s>``; the word after is lower-cased, ``</s>`` at the end.
- Only fields whose values are said verbatim are asked (:data:`VERBATIM_FIELDS`); ``customer rating`` and
  ``familyFriendly`` are said in many words (*rated 5 stars*, *kid friendly*) and keep the slot rules alone.
- A text with no verbatim mention of the value (the slot rules accepted a paraphrase: *Japanese-style*,
  *cheaply priced*) is not judged here.

Measured on the hand-labelled sets (``recipes/check_precision.py``): it removes the tacked-on names of the eighth
and ninth sets at a recall cost of 0–14 points per set (values garbled in ways the labels still accept: *a family
cheap friendly coffee shop*). The contexts are stored hashed (64-bit BLAKE2b of ``"field\\x1fbefore\\x1fafter"``,
sorted, in a safetensors file), so the asset holds no text of the corpus; the bundled table
(``ctrlgen/assets/oracles/e2e-value-contexts.safetensors``) is built from E2E ``train.csv`` by
``recipes/build_value_contexts.py``. On another domain build your own (:meth:`ValueContexts.from_examples`) and
pass it as ``SemanticField(field, value, contexts=...)``, or ``contexts=None`` for the slot rules alone.

    >>> table = ValueContexts.from_examples([({"name": "Zizzi", "food": "Thai"}, "Zizzi serves Thai food .")])
    >>> table.attested("Cotto serves Thai food .", "name", "Cotto")
    True
    >>> table.attested("It serves Thai food Cotto .", "name", "Cotto")
    False
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ctrlgen.errors import CheckpointError
from ctrlgen.oracles.slots import slot_realised
from ctrlgen.oracles.word_pairs import _hash
from ctrlgen.text.tokenizer import split_words

BUNDLED_CONTEXTS = "e2e-value-contexts"
FORMAT = "ctrlgen.value-contexts.v1"
#: Fields whose values a text says word for word (a name, a landmark, a food, an area, a venue, a price).
VERBATIM_FIELDS = frozenset(("name", "near", "food", "area", "eatType", "priceRange"))
BOS, EOS = "<s>", "</s>"
_SEP = "\x1f"
_STOPS = frozenset(".!?")


def _mentions(words: Sequence[str], value: str) -> list[tuple[str, str]]:
    """``(before, after)`` of every verbatim (case-insensitive) mention of ``value`` in ``words``."""
    low, target = [w.lower() for w in words], [w.lower() for w in split_words(value)]
    n, out = len(target), []
    for k in range(len(low) - n + 1):
        if n and low[k:k + n] == target:
            before = BOS if k == 0 or low[k - 1] in _STOPS else low[k - 1]
            out.append((before, low[k + n] if k + n < len(low) else EOS))
    return out


class ValueContexts:
    """Hashed ``(field, word before, word after)`` contexts of field values in a corpus (module docstring)."""

    def __init__(self, contexts: Iterable[int], *, source: str = "") -> None:
        self.contexts, self.source = frozenset(contexts), source

    @classmethod
    def from_examples(cls, examples: Iterable[tuple[Mapping[str, str], str]], *, source: str = "") -> ValueContexts:
        """From ``(meaning representation, text)`` pairs: each verbatim field value's mentions in its text."""
        out: set[int] = set()
        for mr, text in examples:
            words = split_words(text)
            for field, value in mr.items():
                if field in VERBATIM_FIELDS and value.strip():
                    out.update(_hash(_SEP.join((field, b, a))) for b, a in _mentions(words, value))
        return cls(out, source=source)

    def attested(self, text: str, field: str, value: str) -> bool:
        """Whether some verbatim mention of ``value`` in ``text`` stands in a context the corpus has for ``field``;
        True when the field is not verbatim or the value is not said verbatim (not judged here)."""
        if field not in VERBATIM_FIELDS:
            return True
        found = _mentions(split_words(text), value)
        return not found or any(_hash(_SEP.join((field, b, a))) in self.contexts for b, a in found)

    def save(self, path: str | Path) -> None:
        save_file({"contexts": torch.tensor(sorted(self.contexts), dtype=torch.int64)}, str(path),
                  metadata={"format": FORMAT, "source": self.source})

    @classmethod
    def load(cls, path: str | Path) -> ValueContexts:
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                if meta.get("format") != FORMAT:
                    raise CheckpointError(f"{path} is not a value-context table (format {meta.get('format')!r})",
                                          "build one with ValueContexts.from_examples(...).save(path)")
                contexts = fh.get_tensor("contexts")
        except (OSError, ValueError, RuntimeError, SafetensorError) as e:  # missing, truncated, not safetensors
            raise CheckpointError(f"cannot read the value-context table {path}: {e}",
                                  "rebuild it with recipes/build_value_contexts.py") from e
        return cls(contexts.tolist(), source=meta.get("source", ""))


@lru_cache(maxsize=1)
def bundled_contexts() -> ValueContexts:
    """The table built from E2E ``train.csv`` (read once per process)."""
    return ValueContexts.load(Path(str(resources.files("ctrlgen") / "assets" / "oracles"
                                       / f"{BUNDLED_CONTEXTS}.safetensors")))


def value_said(text: str, field: str, value: str, contexts: ValueContexts | None) -> bool:
    """``SemanticField``'s check: the slot rules (:func:`~ctrlgen.oracles.slots.slot_realised`) and, with a table,
    an attested context (:meth:`ValueContexts.attested`)."""
    return slot_realised(text, field, value) and (contexts is None or contexts.attested(text, field, value))


def resolve_contexts(contexts: ValueContexts | str | None) -> ValueContexts | None:
    """``contexts`` as a table: the bundled one for :data:`BUNDLED_CONTEXTS`, ``None`` for none."""
    if contexts == BUNDLED_CONTEXTS:
        return bundled_contexts()
    if contexts is None or isinstance(contexts, ValueContexts):
        return contexts
    raise TypeError(f"contexts must be a ValueContexts table, {BUNDLED_CONTEXTS!r} or None, got {contexts!r}")
