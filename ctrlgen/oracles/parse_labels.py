"""One sentence's part-of-speech tags and dependency parse, as the phrase rules read them.

:class:`Parse` is what :func:`ctrlgen.oracles.phrases.parse_words` returns (one entry per word) and what every rule
over a parse takes: :mod:`ctrlgen.oracles.phrases`, :mod:`ctrlgen.oracles.clauses`, :mod:`ctrlgen.oracles.count_nouns`.
It lives on its own so that those modules share it without importing each other.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

__all__ = ["SUBJECT_DEPS", "Parse", "children"]

SUBJECT_DEPS = frozenset(("nsubj", "nsubjpass", "expl", "csubj"))  # the labels of a clause's subject


class Parse(NamedTuple):
    """One sentence's labels, one entry per word: PTB tag, UPOS, dependency label, head index, the index of the
    leftmost word of its subtree, and the index of its sentence (a text may hold several)."""

    tags: tuple[str, ...]
    pos: tuple[str, ...]
    deps: tuple[str, ...]
    heads: tuple[int, ...]
    left_edges: tuple[int, ...]
    sents: tuple[int, ...]


def children(p: Parse, k: int, deps: Collection[str]) -> list[int]:
    """The words that hang from word ``k`` with one of the dependency labels ``deps``."""
    return [c for c, h in enumerate(p.heads) if h == k and c != k and p.deps[c] in deps]
