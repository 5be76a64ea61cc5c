"""The edit backend's fluency term (the AR draft model's mean log-prob per word) is cached per unique candidate
within a call (issue 17): the same scores and outputs, fewer draft-model forwards, no cache across calls."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import ctrlgen
from ctrlgen.backends.edit.models import encode_batch

TEXT = "The Vaults is a cheap pub near Café Adriatic ."


@pytest.fixture(scope="module")
def gen() -> Any:
    torch.set_num_threads(1)
    return ctrlgen.load("e2e-edit")


class _Counter:
    """Wraps the draft model's ``nll``: counts the rows it is asked to score."""

    def __init__(self, ar: Any) -> None:
        self.nll, self.rows = ar.nll, 0

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        self.rows += int(ids.shape[0])
        return self.nll(ids)


def _uncached(gen: Any) -> Any:
    """The fluency term as before the cache: every row forwarded on every call."""
    ar = gen.draft()

    def score(rows: list[list[int]]) -> list[float]:
        with torch.no_grad():
            ids = encode_batch(rows, ar.config.seq_len)
            return (-ar.nll(ids) / ar.token_counts(ids).clamp(min=1)).tolist()
    return score


def test_each_row_forwarded_once_per_function(gen: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ar = gen.draft()
    counter = _Counter(ar)
    monkeypatch.setattr(ar, "nll", counter)
    a, b, c = (gen.tokenizer.encode(t)[1:-1] for t in (TEXT, "The Vaults is a pub .", "Aromi is a coffee shop ."))
    fluency = gen.fluency()
    first = fluency([a, b, a])
    assert counter.rows == 2  # a once, b once
    assert first[0] == first[2]
    again = fluency([b, a, c])
    assert counter.rows == 3  # only c is new
    assert again[:2] == [first[1], first[0]]
    want = _uncached(gen)([a, b, c])
    assert again == pytest.approx([want[1], want[0], want[2]], abs=1e-6)
    gen.fluency()([a])  # a new function (a new call) keeps no cache from the last one
    assert counter.rows == 3 + 1 + 3  # the uncached reference forwarded 3, the new function 1


def test_edit_same_output_fewer_forwards(gen: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ar = gen.draft()
    counter = _Counter(ar)
    monkeypatch.setattr(ar, "nll", counter)
    kw: dict[str, Any] = {"n": 2, "steps": 3, "seed": 5, "constraints": ["priceRange=more than £30"]}
    cached = gen.edit(TEXT, **kw)
    forwarded = counter.rows
    asked = 0

    def counting_uncached(self: Any) -> Any:
        plain = _uncached(self)

        def score(rows: list[list[int]]) -> list[float]:
            nonlocal asked
            asked += len(rows)
            return plain(rows)
        return score

    monkeypatch.setattr(type(gen), "fluency", counting_uncached)
    plain = gen.edit(TEXT, **kw)
    assert plain.texts == cached.texts
    assert 0 < forwarded < asked  # the cache saved draft-model rows on a real edit
