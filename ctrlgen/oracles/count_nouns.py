"""Nouns a corpus always uses with a determiner: the *find a coffee shop* half of ``Infill``'s phrase check.

A singular count noun needs a determiner (*You can find English coffee shop*, *Clowns is coffee shop*, *has high
customer rating* are not written so), a mass noun does not (*serves English food*). Which nouns are which depends on
the words of a domain, so it is read off a corpus: a singular common noun (PTB ``NN``) heading a noun phrase in an
argument position (subject, object, object of a preposition, predicate, appositive or conjunct) is *determined* when
it has a determiner, a possessive or a number (*a*, *its*, *5*), or a name in front (*The Mill pub*); a noun used
at least :data:`MIN_USES` times, at most :data:`MAX_BARE` of them bare, *needs a determiner*. On E2E ``train.csv``:
*shop*, *rating*, *restaurant*, *range*, *area*, *place*, … need one; *food*, *pub*, *riverside*, *centre* do not.

:meth:`CountNouns.errors` then lists each bare use of such a noun whose phrase touches a free position, except a
phrase that starts its sentence with a capitalised word (*Aromi coffee shop is …*: a name the tagger cannot tell
from *English*). Parses come from :mod:`ctrlgen.oracles.phrases`. The table is stored hashed (64-bit BLAKE2b of the
lower-cased word, as :mod:`ctrlgen.oracles.word_pairs`), so it holds no text; the bundled one
(``ctrlgen/assets/oracles/e2e-count-nouns``) is built by ``recipes/build_count_nouns.py``. For another domain pass
``Infill(template, count_nouns=CountNouns.from_texts(texts))`` or ``count_nouns=None`` to go without.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ctrlgen.errors import CheckpointError
from ctrlgen.oracles.phrases import Parse, parse_words
from ctrlgen.oracles.word_pairs import _hash
from ctrlgen.text.tokenizer import split_words

BUNDLED_NOUNS = "e2e-count-nouns"
FORMAT = "ctrlgen.count-nouns.v1"
MIN_USES = 20  # a noun seen fewer times as a phrase head is left alone
MAX_BARE = 0.1  # ... and one used bare more often than this is a mass noun (or used so in the domain)
ARGUMENT_DEPS = frozenset("nsubj nsubjpass dobj pobj attr appos conj dative oprd".split())
DETERMINER_DEPS = frozenset(("det", "poss", "nummod", "predet"))
_DETERMINER_TAGS = frozenset(("DT", "PRP$", "CD", "POS", "NNP", "NNPS", "WDT", "WP$"))
_KIND_NOUNS = frozenset(("type", "kind", "sort"))  # "the type of place": no article after these


def noun_heads(p: Parse, words: Sequence[str], *, lenient: bool = True) -> Iterator[tuple[int, bool]]:
    """``(index, determined)`` for each singular common noun heading a noun phrase in an argument position:
    determined when a determiner, possessive, number or name is its child or (``lenient``) stands anywhere in its
    phrase, when it is a conjunct of a determined noun (*a cheap pub and restaurant*), or after *type of* /
    *kind of* / *sort of*. A table is built strictly (a noun counts as taking a determiner only on clear evidence)
    and checked leniently (a use is bare only when nothing in its phrase could be the determiner), so parse errors
    in either step make the rule fire less, never more."""
    children: dict[int, list[int]] = {}
    for k, h in enumerate(p.heads):
        if h != k:
            children.setdefault(h, []).append(k)

    def determined(k: int, depth: int = 0) -> bool:
        if any(p.deps[c] in DETERMINER_DEPS for c in children.get(k, [])) or \
                any(p.tags[c] in _DETERMINER_TAGS for c in [*(range(p.left_edges[k], k) if lenient else ()),
                                                            *children.get(k, [])]):
            return True
        h = p.heads[k]
        if p.deps[k] == "conj" and h != k and depth < 8:
            return determined(h, depth + 1)
        return p.deps[k] == "pobj" and words[h].lower() == "of" and words[p.heads[h]].lower() in _KIND_NOUNS

    for k, tag in enumerate(p.tags):
        if tag == "NN" and p.deps[k] in ARGUMENT_DEPS:
            yield k, determined(k)


class CountNouns:
    """Hashed lower-cased nouns that a corpus (nearly) always uses with a determiner (module docstring)."""

    def __init__(self, words: Iterable[int], *, source: str = "") -> None:
        self.words, self.source = frozenset(words), source

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, min_uses: int = MIN_USES, max_bare: float = MAX_BARE,
                   source: str = "") -> CountNouns:
        sentences = [split_words(t) for t in texts]
        uses: Counter[str] = Counter()
        bare: Counter[str] = Counter()
        for words, p in zip(sentences, parse_words(sentences), strict=True):
            for k, determined in noun_heads(p, words, lenient=False):
                uses[words[k].lower()] += 1
                bare[words[k].lower()] += not determined
        return cls((_hash(w) for w, n in uses.items() if n >= min_uses and bare[w] <= max_bare * n), source=source)

    def needs_determiner(self, word: str) -> bool:
        return _hash(word.lower()) in self.words

    def errors(self, words: Sequence[str], p: Parse, touches: set[int]) -> list[str]:
        """The bare uses of a noun that needs a determiner whose phrase touches ``touches`` (0-based indices)."""
        out = []
        for k, determined in noun_heads(p, words):
            start = p.left_edges[k]
            sentence_start = start == 0 or p.sents[start - 1] != p.sents[start] or words[start - 1] in ".!?;:,"
            if determined or not self.needs_determiner(words[k]) or touches.isdisjoint(range(start, k + 1)) \
                    or (sentence_start and words[start][:1].isupper()):
                continue
            out.append(f"{' '.join(words[start:k + 1])!r} without a determiner ({words[k]!r} takes one)")
        return out

    def save(self, path: str | Path) -> None:
        save_file({"words": torch.tensor(sorted(self.words), dtype=torch.int64)}, str(path),
                  metadata={"format": FORMAT, "source": self.source})

    @classmethod
    def load(cls, path: str | Path) -> CountNouns:
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                if meta.get("format") != FORMAT:
                    raise CheckpointError(f"{path} is not a count-noun table (format {meta.get('format')!r})",
                                          "build one with CountNouns.from_texts(...).save(path)")
                words = fh.get_tensor("words")
        except (OSError, ValueError, RuntimeError, SafetensorError) as e:  # missing, truncated, not safetensors
            raise CheckpointError(f"cannot read the count-noun table {path}: {e}",
                                  "rebuild it with recipes/build_count_nouns.py") from e
        return cls(words.tolist(), source=meta.get("source", ""))


@lru_cache(maxsize=1)
def bundled_count_nouns() -> CountNouns:
    """The table built from E2E ``train.csv`` (read once per process)."""
    assets = resources.files("ctrlgen") / "assets" / "oracles"
    return CountNouns.load(Path(str(assets / f"{BUNDLED_NOUNS}.safetensors")))
