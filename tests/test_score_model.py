"""The SEDD score model (ctrlgen/backends/discrete/model.py): shapes, scaling by σ, training, save/load."""

from __future__ import annotations

import math

import pytest
import torch
from test_sedd_sampler import diffusion_for, tiny_model  # the shared tiny score model

from ctrlgen.backends.discrete.diffusion import DiscreteDiffusion, DiscreteDiffusionConfig
from ctrlgen.backends.discrete.model import ScoreModel, ScoreModelConfig
from ctrlgen.backends.discrete.sampler import SEDDSampler
from ctrlgen.config import from_dict, to_dict
from ctrlgen.errors import ConfigError
from ctrlgen.models.pretrained import load_pretrained, save_pretrained
from ctrlgen.text.tokenizer import Tokenizer

torch.set_num_threads(1)
V, MASK = 5, 2  # MASK is not the last id on purpose (ctrlgen's vocabulary has it at id 4 of many)
SENTENCES = ["The Vaults is a cheap pub near Café Adriatic .", "Loch Fyne serves Japanese food in the city centre .",
             "The Eagle is a family friendly coffee shop ."]


def test_score_model_shape_and_own_token_zero() -> None:
    model = tiny_model()
    x = torch.randint(0, 12, (3, 7))
    out = model(x, torch.tensor([0.01, 0.5, 4.0]))
    assert out.shape == (3, 7, 12) and out.dtype == torch.float32 and bool(out.isfinite().all())
    assert bool((out.gather(-1, x[..., None]) == 0).all())
    torch.testing.assert_close(model(x, 0.5), model(x, torch.full((3,), 0.5)))  # a number is shared by every row


def test_absorbing_scaling() -> None:
    model = tiny_model()
    x = torch.randint(0, 12, (3, 7))
    x[:, ::2] = 4
    sigma = torch.tensor([1e-3, 0.7, 6.0])
    raw = model.logits(x, sigma)
    shift = (torch.expm1(sigma).log() + math.log(12 - 1))[:, None, None]
    torch.testing.assert_close(model(x, sigma), (raw - shift).scatter(-1, x[..., None], 0.0))
    # with the zero-initialised head the total ratio at a MASK is the exact 1/(e^σ̄ − 1) = p_t(unmasked)/p_t(MASK)
    torch.manual_seed(0)
    fresh = ScoreModel(ScoreModelConfig(vocab_size=12, seq_len=8, hidden=32, layers=2, heads=2, dropout=0.0))
    total = fresh(x, sigma).double().exp()[:, ::2].sum(-1) - 1  # minus the MASK's own ratio, 1
    torch.testing.assert_close(total, (1 / torch.expm1(sigma.double()))[:, None].expand_as(total), rtol=1e-5, atol=0)


def test_uniform_has_no_scaling() -> None:
    model = tiny_model("uniform")
    x = torch.randint(0, 12, (2, 5))
    torch.testing.assert_close(model(x, 0.3), model.logits(x, 0.3).scatter(-1, x[..., None], 0.0))


def test_score_model_trains_with_score_entropy() -> None:
    model, d = tiny_model(), diffusion_for("absorbing", 12, 4)
    model.train()
    ids = torch.randint(5, 12, (4, 8))
    losses = d.training_losses(model, ids, torch.Generator().manual_seed(0))
    assert losses["loss"].shape == (4,) and bool(losses["loss"].isfinite().all())
    losses["loss"].mean().backward()
    assert model.head.weight.grad is not None and bool(model.head.weight.grad.abs().sum() > 0)


def test_bad_score_model_config() -> None:
    with pytest.raises(ConfigError):
        ScoreModelConfig(vocab_size=12, graph="ring")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        from_dict(ScoreModelConfig, {"vocab_size": 12, "graph": "ring"})
    with pytest.raises(ConfigError):
        ScoreModelConfig(vocab_size=1)


def test_save_load_round_trip_is_bit_identical(tmp_path) -> None:
    tok = Tokenizer.train(SENTENCES, min_count=1)
    model = tiny_model(vocab_size=len(tok), seq_len=12)
    dcfg = DiscreteDiffusionConfig()
    save_pretrained(tmp_path / "sedd", model, tok, {"diffusion": to_dict(dcfg)})
    back, tok2, cfg = load_pretrained(tmp_path / "sedd", ScoreModel)
    assert cfg["model_type"] == "sedd-score" and back.config == model.config
    assert from_dict(DiscreteDiffusionConfig, cfg["diffusion"]) == dcfg and len(tok2) == len(tok)
    sd, sd2 = model.state_dict(), back.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    x = torch.tensor([tok.encode(SENTENCES[0], seq_len=12)])
    assert torch.equal(model(x, torch.tensor([0.4])), back(x, torch.tensor([0.4])))
    d = DiscreteDiffusion.from_config(dcfg, len(tok), tok.vocab.mask_id)
    a = SEDDSampler(steps=3).sample(model, d, 2, 12, torch.Generator().manual_seed(0)).tokens
    b = SEDDSampler(steps=3).sample(back, d, 2, 12, torch.Generator().manual_seed(0)).tokens
    assert torch.equal(a, b)
