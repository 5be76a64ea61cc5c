"""Fast-dLLM's block cache on the LLaDA architecture (``LLaDAModel.prefill`` / ``block_logits``) and in the masked
sampler (``SamplerConfig.cache``): exact while the block is unchanged, stale (and bounded by a fresh prefill per
block) after; every MASK filled, given tokens kept; the calls it cannot serve refused before any forward."""

from __future__ import annotations

import argparse

import pytest
import torch

from ctrlgen.backends.masked.flags import FLAGS
from ctrlgen.backends.masked.llada import MaskedLLaDA, MaskedLLaDAConfig
from ctrlgen.backends.masked.sampler import SamplerConfig, sample
from ctrlgen.errors import SamplingError

V, MASK, L = 12, 11, 16
SIZES = {"d_model": 32, "n_heads": 4, "n_kv_heads": 2, "n_layers": 2, "mlp_hidden_size": 48, "seq_len": L}


@pytest.fixture
def model() -> MaskedLLaDA:
    torch.manual_seed(0)
    m = MaskedLLaDA(MaskedLLaDAConfig(vocab_size=V, mask_id=MASK, **SIZES)).eval()
    torch.nn.init.normal_(m.llada.model.transformer.ff_out.weight, std=0.5)  # sharper than the init
    return m


def _ids(b: int = 3) -> torch.Tensor:
    x = torch.randint(0, MASK, (b, L), generator=torch.Generator().manual_seed(1))
    x[:, 6:] = MASK
    return x


@torch.no_grad()
def test_prefill_is_the_forward_and_an_unchanged_block_is_exact(model):
    x = _ids()
    logits, cache = model.prefill(x)
    full = model(x)
    assert torch.equal(logits, full) and len(cache) == SIZES["n_layers"]
    assert cache[0][0].shape == (3, SIZES["n_kv_heads"], L, SIZES["d_model"] // SIZES["n_heads"])
    for start in (0, 4, 12):
        block = model.block_logits(x[:, start:start + 4], start, cache)
        torch.testing.assert_close(block, full[:, start:start + 4], rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_a_changed_block_sees_fresh_keys_at_its_own_positions(model):
    """Layer 1 is exact for any change inside the block (its keys there are fresh, the others' are embeddings);
    the stale part is deeper: the whole model differs from a full forward, a one-layer model does not."""
    x = _ids()
    _, cache = model.prefill(x)
    y = x.clone()
    y[:, 8:12] = 3
    block = model.block_logits(y[:, 8:12], 8, cache)
    assert not torch.allclose(block, model(y)[:, 8:12], atol=1e-4)  # two layers: stale keys in layer 2
    one = MaskedLLaDA(MaskedLLaDAConfig(vocab_size=V, mask_id=MASK, **{**SIZES, "n_layers": 1})).eval()
    _, cache1 = one.prefill(x)
    torch.testing.assert_close(one.block_logits(y[:, 8:12], 8, cache1), one(y)[:, 8:12], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("threshold", [None, 0.3])
def test_sampling_with_the_cache_fills_every_mask_and_keeps_given_tokens(model, threshold):
    x = torch.full((4, L), MASK)
    x[:, 0], x[1, 5] = 1, 7
    calls = {"prefill": 0, "block": 0}
    prefill, block = model.prefill, model.block_logits
    model.prefill = lambda ids: calls.__setitem__("prefill", calls["prefill"] + 1) or prefill(ids)
    model.block_logits = lambda *a: calls.__setitem__("block", calls["block"] + 1) or block(*a)
    out = sample(model, x, SamplerConfig(block_length=4, threshold=threshold, cache=True), 8,
                 generator=torch.Generator().manual_seed(0))
    assert not (out.tokens == MASK).any() and (out.tokens[:, 0] == 1).all() and out.tokens[1, 5] == 7
    assert calls["prefill"] == 4  # one per block
    assert calls["prefill"] + calls["block"] == out.forwards <= 8


def test_the_calls_the_cache_cannot_serve_are_refused(model):
    x = torch.full((2, L), MASK)
    x[:, 0] = 1
    with pytest.raises(SamplingError, match="classifier-free"):
        sample(model, x, SamplerConfig(cache=True, cfg_scale=1.0), 4)
    with pytest.raises(SamplingError, match="guide"):
        sample(model, x, SamplerConfig(cache=True), 4, guide=lambda x, z: z)

    class Plain(torch.nn.Module):
        mask_id, vocab_size = MASK, V

        def forward(self, ids):
            return torch.zeros(*ids.shape, V)

    with pytest.raises(SamplingError, match="block_logits"):
        sample(Plain(), x, SamplerConfig(cache=True), 4)
    with pytest.raises(SamplingError, match="cache"):
        SamplerConfig(cache=1)


def test_the_command_line_flag():
    parser = argparse.ArgumentParser()
    FLAGS.add_arguments(parser)
    assert FLAGS.to_kwargs(parser.parse_args(["--block-cache"]))["sampler"].cache is True
    assert FLAGS.to_kwargs(parser.parse_args([]))["sampler"].cache is False
