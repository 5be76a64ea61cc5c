"""The shared inverse-CDF draw (``ctrlgen.core.categorical``): the in-place variant draws the same ids, the copying
one leaves its input alone, entries ≤ 0 are never drawn. Its exactness against exact probabilities is tested where
the samplers use it (``test_sedd_sampler.py``, ``test_masked_sampler.py``)."""

from __future__ import annotations

import torch

from ctrlgen.core.categorical import sample_categorical, sample_categorical_


def test_in_place_draws_the_same_ids_and_the_copy_leaves_probs_alone():
    for dtype in (torch.float32, torch.float64):
        probs = torch.rand(64, 3, 9, generator=torch.Generator().manual_seed(0), dtype=dtype)
        probs[..., 4] = -0.5  # a negative entry (an Euler stay-probability) counts as 0
        before = probs.clone()
        a = sample_categorical(probs, torch.Generator().manual_seed(1))
        assert torch.equal(probs, before)
        b = sample_categorical_(probs.clone(), torch.Generator().manual_seed(1))
        assert torch.equal(a, b) and a.shape == (64, 3) and a.dtype == torch.long
        assert not (a == 4).any()


def test_zero_entries_are_never_drawn_even_at_the_end_of_a_row():
    probs = torch.tensor([[0.0, 1e-30, 1.0, 0.0, 0.0]]).expand(20000, 5)
    draws = sample_categorical(probs, torch.Generator().manual_seed(0))
    assert set(draws.tolist()) <= {1, 2}
