"""AR best-of-N, the baseline beside every control number: checks rank first, then (optionally) fluency."""

from __future__ import annotations

import pytest
import torch

from ctrlgen import Contains
from ctrlgen.evaluation.best_of_n import ar_best_of_n
from ctrlgen.models.ar_lm import ARLM, ARLMConfig
from ctrlgen.text.tokenizer import Tokenizer

torch.set_num_threads(1)
CORPUS = ["the pub is cheap .", "the cafe is near the river .", "a cheap cafe near the pub .",
          "the river pub is family friendly ."] * 3


@pytest.fixture(scope="module")
def ar() -> tuple[ARLM, Tokenizer]:
    tok = Tokenizer.train(CORPUS, min_count=1)
    torch.manual_seed(0)
    model = ARLM(ARLMConfig(vocab_size=len(tok), seq_len=12, hidden=32, layers=1, heads=2, dropout=0.0)).eval()
    return model, tok


def test_passing_draws_come_first_and_count_is_honest(ar) -> None:
    model, tok = ar
    c = Contains("cheap")
    best = ar_best_of_n(model, tok, c, keep=4, pool=32, seed=0, batch_size=8)
    assert best.pool == 32 and len(best.texts) == 4
    assert best.satisfied == c.satisfied(best.texts)
    # Passing texts precede failing ones, and ``passed`` counts every passing draw of the pool.
    assert best.satisfied == sorted(best.satisfied, reverse=True)
    assert sum(best.satisfied) == min(4, best.passed)


def test_fluency_breaks_ties_only_within_equal_checks(ar) -> None:
    model, tok = ar
    c = Contains("cheap")
    plain = ar_best_of_n(model, tok, c, keep=32, pool=32, seed=0)
    by_len = ar_best_of_n(model, tok, c, keep=32, pool=32, seed=0, fluency=lambda ts: [-len(t) for t in ts])
    assert sorted(plain.texts) == sorted(by_len.texts)  # same draws, only the order changes
    assert by_len.satisfied == sorted(by_len.satisfied, reverse=True)
    for ok in (True, False):
        group = [t for t, s, sc in zip(by_len.texts, by_len.satisfied, by_len.scores) if s is ok]
        scores = [sc for s, sc in zip(by_len.satisfied, by_len.scores) if s is ok]
        for a, b, sa, sb in zip(group, group[1:], scores, scores[1:]):
            assert sa > sb or (sa == sb and len(a) <= len(b))


def test_bad_keep_is_refused(ar) -> None:
    model, tok = ar
    with pytest.raises(ValueError, match="keep"):
        ar_best_of_n(model, tok, Contains("cheap"), keep=5, pool=4, seed=0)
