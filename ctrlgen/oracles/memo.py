"""A bounded memo for the oracles: labels of a sentence are computed once and shared by every caller.

The tagger (:mod:`.pos`) and the parser (:mod:`.parser`) label *word lists*; a report asks for the labels of
the same sentences several times (``satisfied``, ``score``, ranking, the edit backend's proposals). A
:class:`LabelMemo` keyed by the word tuple hands back what it has and computes only the missing unique
sentences, in one batch call. It is an LRU bounded by :data:`MEMO_SIZE` sentences.

It cannot change a result as long as the oracle labels a sentence the same alone or in any batch — the
oracles' tests check that on ~50 sentences (``tests/test_report.py``). Values are returned as given by
``copy`` (lists and trees are mutable; a caller must not see another caller's edits).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Sentences each memo keeps (least recently used dropped first).
MEMO_SIZE = 8192

_ALL: weakref.WeakSet[LabelMemo] = weakref.WeakSet()  # every live memo, for clear_memos()


class LabelMemo(Generic[K, V]):
    """``key → label`` for up to ``size`` keys. :meth:`get_many` computes the missing ones in one call.

    ``copy`` turns a stored value into the one handed out (default: the value itself, for immutable values).
    ``hits`` and ``misses`` count keys served from the memo and keys computed.
    """

    def __init__(self, size: int = MEMO_SIZE, copy: Callable[[V], V] | None = None) -> None:
        self.size = size
        self.copy = copy
        self._items: OrderedDict[K, V] = OrderedDict()
        self.hits = self.misses = 0
        _ALL.add(self)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()

    def get_many(self, keys: Sequence[K], compute: Callable[[list[K]], Sequence[V]]) -> list[V]:
        """The values of ``keys`` in order; ``compute(missing)`` gets each missing key once, in one call, and
        returns one value per key."""
        missing = list(dict.fromkeys(k for k in keys if k not in self._items))
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        fresh: dict[K, V] = {}
        if missing:
            values = list(compute(missing))
            if len(values) != len(missing):
                raise RuntimeError(f"an oracle returned {len(values)} labels for {len(missing)} sentences")
            fresh = dict(zip(missing, values, strict=True))
        out = []
        for k in keys:
            v = fresh[k] if k in fresh else self._items[k]
            out.append(v if self.copy is None else self.copy(v))
        for k in keys:  # store and mark as recently used, then trim
            self._items[k] = fresh[k] if k in fresh else self._items[k]
            self._items.move_to_end(k)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return out


def clear_memos() -> None:
    """Empty every oracle memo of the process (benchmarks that measure a cold call; tests)."""
    for memo in list(_ALL):
        memo.clear()
