"""Word pairs a corpus attests: the fluency half of ``Infill``'s check.

The closed-class rules of :mod:`ctrlgen.oracles.wellformed` catch fragments (*near the .*, *pub pub*), but not
grammatical words in an order no one writes: *serves a coffee food in the customer rating*, *a low kid friendly
pub*, *near The Sorrento food*. What those have in common is a word pair at the edge of a hole that the text the
models learned from never contains (*coffee food*, *low kid*, *Sorrento food*). So ``Infill`` also asks, for every
pair of adjacent words that touches a filled position (the sentence boundaries included), that the pair occur in
that corpus — the same statistic as the bigram precision of :mod:`ctrlgen.oracles.fluency`, applied per pair.

The table also holds the corpus's word triples, and ``Infill`` asks the same of every three adjacent words that
touch a filled position: a pair can be attested on its own and still sit wrongly between its neighbours (*but it
is riverside*, *a family friendly Bakers*). A triple is skipped when its second or third word starts with a capital
or any of its words is not in the corpus. Triples are optional in the file (a table saved before they existed
loads without them, and then only pairs are asked).

Pairs are skipped (never held against a fill) when

- either word is not in the corpus at all: a new name or an emoji is not evidence of a bad fill;
- the second word starts with a capital: a name begins there (*near Zizzi*, *The House*), and names are open;
- a capitalised word is followed by punctuation: a name ends a clause (*near Zizzi .*).

The pairs are stored hashed (64-bit BLAKE2b of ``"a\\x1fb"`` of the lower-cased words, sorted, in a safetensors
file), so the asset holds no text of the corpus. The bundled table (``ctrlgen/assets/oracles/e2e-word-pairs``) is
built from E2E ``train.csv`` — the text every bundled model was trained on — by ``recipes/build_word_pairs.py``.
On another domain a user builds their own (:meth:`WordPairs.from_texts`, :meth:`WordPairs.save`) and passes it
as ``Infill(template, pairs=...)``, or ``pairs=None`` for the closed-class rules alone.

    >>> pairs = WordPairs.from_texts(["The Vaults is a cheap pub .", "Zizzi serves Italian food ."])
    >>> pairs.unseen(["The", "Vaults", "serves", "Italian", "food", "."], free=[2, 3])
    [('vaults', 'serves')]
    >>> pairs.unseen_triples(["Zizzi", "serves", "cheap", "food", "."], free=[3])
    [('zizzi', 'serves', 'cheap'), ('serves', 'cheap', 'food'), ('cheap', 'food', '.')]
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ctrlgen.errors import CheckpointError
from ctrlgen.text.tokenizer import split_words

BOS, EOS = "<s>", "</s>"
BUNDLED = "e2e-word-pairs"
_SEP = "\x1f"
_PUNCTUATION = frozenset(".,;:!?")


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


class WordPairs:
    """Hashed lower-cased word pairs, triples and words of a corpus; ``<s>`` / ``</s>`` mark the sentence edges."""

    def __init__(self, pairs: Iterable[int], words: Iterable[int], *, triples: Iterable[int] = (),
                 source: str = "") -> None:
        self.pairs, self.words, self.source = frozenset(pairs), frozenset(words), source
        self.triples = frozenset(triples)

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, source: str = "") -> WordPairs:
        pairs: set[int] = set()
        words: set[int] = set()
        triples: set[int] = set()
        for t in texts:
            seq = [BOS, *(w.lower() for w in split_words(t)), EOS]
            words.update(_hash(w) for w in seq)
            pairs.update(_hash(a + _SEP + b) for a, b in zip(seq, seq[1:]))
            triples.update(_hash(a + _SEP + b + _SEP + c) for a, b, c in zip(seq, seq[1:], seq[2:]))
        return cls(pairs, words, triples=triples, source=source)

    def known(self, word: str) -> bool:
        return _hash(word.lower()) in self.words

    def attested(self, a: str, b: str) -> bool:
        return _hash(a.lower() + _SEP + b.lower()) in self.pairs

    def unseen(self, words: Sequence[str], free: Collection[int]) -> list[tuple[str, str]]:
        """The pairs of adjacent words touching a free position (1-based word positions; 0 is ``<s>``,
        ``len(words) + 1`` is ``</s>``) that the corpus never has, skipping unknown words and pairs whose second
        word is capitalised (module docstring); lower-cased."""
        seq = [BOS, *words, EOS]
        out = []
        for k in range(len(seq) - 1):
            if _free_none(free, (k, k + 1)):
                continue
            a, b = seq[k], seq[k + 1]
            if b[:1].isupper() or (a[:1].isupper() and b in _PUNCTUATION) or not (self.known(a) and self.known(b)) \
                    or self.attested(a, b):
                continue
            out.append((a.lower(), b.lower()))
        return out

    def unseen_triples(self, words: Sequence[str], free: Collection[int]) -> list[tuple[str, str, str]]:
        """The triples of adjacent words touching a free position (positions as :meth:`unseen`) that the corpus
        never has, skipping those with an unknown word or a capitalised second or third word; lower-cased. Empty
        when the table holds no triples."""
        if not self.triples:
            return []
        seq = [BOS, *words, EOS]
        out = []
        for k in range(len(seq) - 2):
            a, b, c = seq[k:k + 3]
            if _free_none(free, (k, k + 1, k + 2)) or b[:1].isupper() or c[:1].isupper() \
                    or not all(map(self.known, (a, b, c))) \
                    or _hash(a.lower() + _SEP + b.lower() + _SEP + c.lower()) in self.triples:
                continue
            out.append((a.lower(), b.lower(), c.lower()))
        return out

    def save(self, path: str | Path) -> None:
        tensors = {"pairs": torch.tensor(sorted(self.pairs), dtype=torch.int64),
                   "words": torch.tensor(sorted(self.words), dtype=torch.int64)}
        if self.triples:
            tensors["triples"] = torch.tensor(sorted(self.triples), dtype=torch.int64)
        save_file(tensors, str(path), metadata={"format": "ctrlgen.word-pairs.v1", "source": self.source})

    @classmethod
    def load(cls, path: str | Path) -> WordPairs:
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                if meta.get("format") != "ctrlgen.word-pairs.v1":
                    raise CheckpointError(f"{path} is not a word-pair table (format {meta.get('format')!r})",
                                          "build one with WordPairs.from_texts(...).save(path)")
                pairs, words = fh.get_tensor("pairs"), fh.get_tensor("words")
                triples = fh.get_tensor("triples").tolist() if "triples" in fh.keys() else []
        except (OSError, ValueError, RuntimeError, SafetensorError) as e:  # missing, truncated, not safetensors
            raise CheckpointError(f"cannot read the word-pair table {path}: {e}",
                                  "rebuild it with recipes/build_word_pairs.py") from e
        return cls(pairs.tolist(), words.tolist(), triples=triples, source=meta.get("source", ""))


def _free_none(free: Collection[int], positions: Iterable[int]) -> bool:
    """Whether none of ``positions`` is free."""
    return all(k not in free for k in positions)


@lru_cache(maxsize=1)
def bundled_pairs() -> WordPairs:
    """The table built from E2E ``train.csv`` (read once per process)."""
    return WordPairs.load(Path(str(resources.files("ctrlgen") / "assets" / "oracles" / f"{BUNDLED}.safetensors")))
