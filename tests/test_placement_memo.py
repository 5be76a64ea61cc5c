"""Placement scores memoised across the requests of one shared-batch call (ctrlgen.core.placement.memoised): exact —
every placement and text as without the memo — and a context shared by requests is scored once."""

import pytest
import torch

from ctrlgen import Infill, Length
from ctrlgen.backends.masked.generator import MaskedGenerator
from ctrlgen.backends.masked.llada import MaskedLLaDA, MaskedLLaDAConfig
from ctrlgen.constraints.contains import Contains
from ctrlgen.core import shared_batches
from ctrlgen.core.placement import memoised
from ctrlgen.core.requests import Request


def test_memo_calls_the_score_once_per_context_and_hands_out_copies():
    calls = []

    def score(taken, starts, ids):
        calls.append((dict(taken), list(starts), list(ids)))
        return torch.tensor([float(s + sum(ids) + sum(taken.values())) for s in starts], dtype=torch.float64)

    cached = memoised(score)
    a = cached({0: 1, 5: 2}, [1, 2, 3], [7, 8])
    b = cached({5: 2, 0: 1}, (1, 2, 3), (7, 8))  # the same context, other insertion order and sequence types
    assert len(calls) == 1 and torch.equal(a, b) and torch.equal(a, score({0: 1, 5: 2}, [1, 2, 3], [7, 8]))
    a += 100  # a caller's in-place change never reaches the memo
    assert torch.equal(cached({0: 1, 5: 2}, [1, 2, 3], [7, 8]), b)
    for taken, starts, ids in (({0: 1}, [1, 2, 3], [7, 8]), ({0: 1, 5: 2}, [1, 2], [7, 8]),
                               ({0: 1, 5: 2}, [1, 2, 3], [7])):  # any part differs: scored afresh
        got = cached(taken, starts, ids)
        assert torch.equal(got, score(taken, starts, ids))
    assert len(calls) == 1 + 3 + 1 + 3  # three fresh contexts (+ the direct reference calls)


@pytest.fixture
def masked_gen(tokenizer):
    torch.manual_seed(0)
    model = MaskedLLaDA(MaskedLLaDAConfig(vocab_size=len(tokenizer), mask_id=tokenizer.vocab.mask_id, seq_len=24,
                                          d_model=32, n_layers=2, n_heads=2, n_kv_heads=2, mlp_hidden_size=64))
    return MaskedGenerator(model, tokenizer)


def _repeated():
    """Four phrase requests over two contexts (Contains alone; with Length(9)), between other requests."""
    return [Request(Contains("city centre"), n=2), Request(Length(9) & Contains("city centre"), n=1),
            Request(Length(6), n=1), Request(Contains("city centre"), n=2),
            Request(infill="The Mill is a [MASK:2] pub ."), Request(Length(9) & Contains("city centre"), n=1)]


@pytest.mark.parametrize("backend", ["discrete", "masked"])
def test_shared_batches_place_and_sample_exactly_as_without_the_memo(backend, sedd_gen, masked_gen, monkeypatch):
    gen = sedd_gen if backend == "discrete" else masked_gen
    real, contexts = gen.placement_score, []

    def spy(taken, starts, ids):
        contexts.append((tuple(sorted(taken.items())), tuple(ids)))
        return real(taken, starts, ids)

    monkeypatch.setattr(gen, "placement_score", spy)
    memo = [o.tokens for o in gen.generate_requests(_repeated(), steps=3, seed=4, batch_size=4)]
    with_memo = len(contexts)
    contexts.clear()
    monkeypatch.setattr(shared_batches, "memoised", lambda score: score)  # every request scores its own contexts
    plain = [o.tokens for o in gen.generate_requests(_repeated(), steps=3, seed=4, batch_size=4)]
    assert all(torch.equal(a, b) for a, b in zip(memo, plain, strict=True))
    assert with_memo == len(set(contexts)) == 2 and len(contexts) == 4  # one score per context instead of per request


def test_a_phrase_request_alone_gives_generate_s_texts(masked_gen):
    """The shared-batch path places with the generator's own score, as ``generate`` does (same seed, same texts)."""
    c = Length(10) & Contains("city centre")
    alone = masked_gen.generate_requests([Request(c, n=3)], steps=4, seed=3)[0]
    direct = masked_gen.generate(n=3, steps=4, seed=3, constraints=c)
    assert alone.texts == direct.texts
    infill = Infill("The Mill is a [MASK:2] pub .") & Contains("city")
    alone = masked_gen.generate_requests([Request(infill, n=2)], steps=4, seed=1)[0]
    assert alone.texts == masked_gen.generate(n=2, steps=4, seed=1, constraints=infill).texts
