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

The table also knows the corpus's **names** — every ``name`` value, hashed — so that ``name = v`` fails when the
text calls its place by another known name: a known name that is not the value and stands where no proximity cue
makes it a landmark (:meth:`ValueContexts.other_names`: *Giraffe … It is a pub The Vaults*, *Blue Spice , located
near … . Children not visit The Cambridge Blue .*; *near The Mill* is a landmark). The slot rules find a second name
only where the text introduces one (*called X*, *X is …*); a known name needs no introduction. Landmarks (``near``
values) are not asked: they stand in text as landmarks with or without a cue (*… is located Ranch*).

Measured on the hand-labelled sets (``recipes/check_precision.py``; the README's "What `satisfied` means"): it
removed every false positive of the eighth set and two of the ninth's, at a recall cost of 4–14 points per set
(values garbled in ways the labels still accept: *a family cheap friendly coffee shop*), and 0.7–7 points on the
``valid.csv`` references, per field. The contexts are stored hashed (64-bit BLAKE2b of ``"field\\x1fbefore\\x1fafter"``,
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
from ctrlgen.oracles.slot_patterns import NEAR_CUES
from ctrlgen.oracles.slots import slot_realised
from ctrlgen.oracles.word_pairs import BOS, EOS, _hash
from ctrlgen.text.tokenizer import split_words

BUNDLED_CONTEXTS = "e2e-value-contexts"
FORMAT = "ctrlgen.value-contexts.v1"
#: Fields whose values a text says word for word (a name, a landmark, a food, an area, a venue, a price).
VERBATIM_FIELDS = frozenset(("name", "near", "food", "area", "eatType", "priceRange"))
_MAX_NAME_WORDS = 4
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
    """Hashed ``(field, word before, word after)`` contexts of field values in a corpus, and its names (the
    lower-cased ``name`` values; module docstring)."""

    def __init__(self, contexts: Iterable[int], *, names: Iterable[int] = (), source: str = "") -> None:
        self.contexts, self.names, self.source = frozenset(contexts), frozenset(names), source

    @classmethod
    def from_examples(cls, examples: Iterable[tuple[Mapping[str, str], str]], *, source: str = "") -> ValueContexts:
        """From ``(meaning representation, text)`` pairs: each verbatim field value's mentions in its text."""
        out: set[int] = set()
        names: set[int] = set()
        for mr, text in examples:
            words = split_words(text)
            for field, value in mr.items():
                if field in VERBATIM_FIELDS and value.strip():
                    out.update(_hash(_SEP.join((field, b, a))) for b, a in _mentions(words, value))
                if field == "name" and value.strip():
                    names.add(_hash(" ".join(w.lower() for w in split_words(value))))
        return cls(out, names=names, source=source)

    def other_names(self, text: str, value: str) -> list[str]:
        """The known names (lower-cased) that ``text`` mentions besides ``value``, capitalised as names are, and
        with no proximity cue (*near*, *close to*, *at* …: :data:`~ctrlgen.oracles.slot_patterns.NEAR_CUES`) right
        before them, before their *the* (*near the the Mill* too) or before the longer name they end (*near Café
        Wildwood*: a landmark that contains the name *Wildwood*); longest first, never inside a mention of
        ``value``."""
        words = split_words(text)
        low, target = [w.lower() for w in words], [w.lower() for w in split_words(value)]
        m = len(target)
        taken = {i for k in range(len(low)) if m and low[k:k + m] == target for i in range(k, k + m)}
        out, k = [], 0
        while k < len(words):
            for n in range(min(_MAX_NAME_WORDS, len(words) - k), 0, -1):
                span = range(k, k + n)
                if taken.isdisjoint(span) and words[k][:1].isupper() \
                        and _hash(" ".join(low[k:k + n])) in self.names:
                    i = k - 1  # back over *the* and the capitalised words of a longer name (*near Café Wildwood*)
                    while i >= 0 and (low[i] == "the" or words[i][:1].isupper()):
                        i -= 1
                    if not (i >= 0 and low[i] in NEAR_CUES):
                        out.append(" ".join(low[k:k + n]))
                    k += n - 1
                    break
            k += 1
        return out

    def attested(self, text: str, field: str, value: str) -> bool:
        """Whether some verbatim mention of ``value`` in ``text`` stands in a context the corpus has for ``field``;
        True when the field is not verbatim or the value is not said verbatim (not judged here)."""
        if field not in VERBATIM_FIELDS:
            return True
        found = _mentions(split_words(text), value)
        return not found or any(_hash(_SEP.join((field, b, a))) in self.contexts for b, a in found)

    def save(self, path: str | Path) -> None:
        save_file({"contexts": torch.tensor(sorted(self.contexts), dtype=torch.int64),
                   "names": torch.tensor(sorted(self.names), dtype=torch.int64)}, str(path),
                  metadata={"format": FORMAT, "source": self.source})

    @classmethod
    def load(cls, path: str | Path) -> ValueContexts:
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                if meta.get("format") != FORMAT:
                    raise CheckpointError(f"{path} is not a value-context table (format {meta.get('format')!r})",
                                          "build one with ValueContexts.from_examples(...).save(path)")
                contexts, names = fh.get_tensor("contexts"), fh.get_tensor("names")
        except (OSError, ValueError, RuntimeError, SafetensorError) as e:  # missing, truncated, not safetensors
            raise CheckpointError(f"cannot read the value-context table {path}: {e}",
                                  "rebuild it with recipes/build_value_contexts.py") from e
        return cls(contexts.tolist(), names=names.tolist(), source=meta.get("source", ""))


@lru_cache(maxsize=1)
def bundled_contexts() -> ValueContexts:
    """The table built from E2E ``train.csv`` (read once per process)."""
    return ValueContexts.load(Path(str(resources.files("ctrlgen") / "assets" / "oracles"
                                       / f"{BUNDLED_CONTEXTS}.safetensors")))


def value_said(text: str, field: str, value: str, contexts: ValueContexts | None) -> bool:
    """``SemanticField``'s check: the slot rules (:func:`~ctrlgen.oracles.slots.slot_realised`) and, with a table,
    an attested context (:meth:`ValueContexts.attested`) and, for ``name``, no other known name outside a landmark
    phrase (:meth:`ValueContexts.other_names`)."""
    if not slot_realised(text, field, value):
        return False
    if contexts is None:
        return True
    return contexts.attested(text, field, value) and not (field == "name" and contexts.other_names(text, value))


def resolve_contexts(contexts: ValueContexts | str | None) -> ValueContexts | None:
    """``contexts`` as a table: the bundled one for :data:`BUNDLED_CONTEXTS`, ``None`` for none."""
    if contexts == BUNDLED_CONTEXTS:
        return bundled_contexts()
    if contexts is None or isinstance(contexts, ValueContexts):
        return contexts
    raise TypeError(f"contexts must be a ValueContexts table, {BUNDLED_CONTEXTS!r} or None, got {contexts!r}")
