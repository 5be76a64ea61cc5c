"""``load(..., device=, dtype=)`` (issue 15 item 4) on CPU: fp32 / bf16 / fp16 on every backend, and the
sampling generator on the networks' device. (CUDA: tests/test_cuda_smoke.py.)

What the op set allows, measured on CPU (torch 2.13): every op the three backends use has a float16 and a bfloat16
CPU kernel (matmul, SDPA, layer norm, softmax / log-softmax, multinomial, the GPT-2 draft LM), so no backend refuses
half precision on CPU and nothing is upcast silently; networks run in the requested dtype, logits are compared in
float32 where the samplers need it. These tests pin that: a forward in half precision stays close to float32 (never
garbage) and a whole generate call yields texts over the vocabulary. (The edit backend runs here from random
starts, without its GPT-2 draft LM, to keep this file free of the transformers import; the bundled e2e-edit with its
draft was measured in float16 and bfloat16 on CPU too, and tests/test_cuda_smoke.py runs it where a GPU exists.)"""

from __future__ import annotations

import pytest
import torch

import ctrlgen
from ctrlgen.backends.discrete.model import ScoreModel, ScoreModelConfig
from ctrlgen.backends.edit.joint import EditModel, EditModelConfig
from ctrlgen.core.contract import Generator
from ctrlgen.core.options import Options
from ctrlgen.errors import ConfigError
from ctrlgen.models.pretrained import save_pretrained

HALF = ["bfloat16", "float16"]
SIZES = {"seq_len": 20, "hidden": 32, "layers": 2, "heads": 2, "dropout": 0.0}


@pytest.fixture
def checkpoints(model_dir, tokenizer, tmp_path):
    torch.manual_seed(0)
    sedd = ScoreModel(ScoreModelConfig(vocab_size=len(tokenizer), **SIZES))
    torch.nn.init.normal_(sedd.head.weight, std=0.5)
    edit = EditModel(EditModelConfig(vocab_size=len(tokenizer), **SIZES))
    return {"embedding": model_dir,
            "discrete": save_pretrained(tmp_path / "sedd", sedd, tokenizer, {"diffusion": {"graph": "absorbing"}}),
            "edit": save_pretrained(tmp_path / "edit", edit, tokenizer, {"diffusion": {"steps": 3}})}


CALL = {"embedding": {"n": 2, "steps": 5}, "discrete": {"n": 2, "steps": 5}, "edit": {"n": 2, "steps": 2, "bootstrap": "random"}}


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("backend", ["embedding", "discrete", "edit"])
def test_half_precision_generates_on_cpu(checkpoints, backend, dtype):
    gen = ctrlgen.load(checkpoints[backend], dtype=dtype)
    assert {p.dtype for m in gen.modules().values() for p in m.parameters()} == {getattr(torch, dtype)}
    out = gen.generate(seed=0, **CALL[backend])
    ref = ctrlgen.load(checkpoints[backend]).generate(seed=0, **CALL[backend])  # float32 (untrained: not fluent)
    assert len(out.texts) == 2 and out.tokens.shape == ref.tokens.shape and out.tokens.dtype == torch.long
    assert 0 <= int(out.tokens.min()) and int(out.tokens.max()) < len(gen.tokenizer)
    assert out.tokens[:, 0].tolist() == ref.tokens[:, 0].tolist()  # START where float32 has it


def _inputs(net: torch.nn.Module, vocab: int) -> tuple:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (2, 20), generator=g)
    if isinstance(net, ScoreModel):
        return ids, torch.tensor([0.5, 2.0])
    cfg = net.config
    return torch.randn(2, cfg.seq_len, cfg.embed_dim, generator=g), torch.tensor([3, 50])


@pytest.mark.parametrize("dtype", HALF)
def test_half_forward_is_close_to_float32(tiny_model, tokenizer, dtype):
    """Not garbage: each network's half-precision output is finite and within half-precision error of float32."""
    torch.manual_seed(0)
    nets = [tiny_model, ScoreModel(ScoreModelConfig(vocab_size=len(tokenizer), **SIZES)).eval()]
    torch.nn.init.normal_(nets[1].head.weight, std=0.5)
    for net in nets:
        args = _inputs(net, len(tokenizer))
        with torch.no_grad():
            ref = net(*args).float()
            half = net.to(getattr(torch, dtype))(*[a.to(getattr(torch, dtype)) if a.is_floating_point() else a
                                                    for a in args]).float()
        net.float()
        finite = torch.isfinite(ref)
        assert torch.equal(torch.isfinite(half), finite), type(net).__name__
        err = (half[finite] - ref[finite]).abs().max() / ref[finite].abs().max().clamp(min=1)
        assert err < (0.05 if dtype == "bfloat16" else 0.01), (type(net).__name__, float(err))


def test_float16_texts_match_float32_on_the_bundled_model():
    """Measured: e2e in float16 on CPU writes the float32 texts for this seed (rounding picks the same words)."""
    a = ctrlgen.load("e2e").generate(n=2, steps=5, seed=1).texts
    assert ctrlgen.load("e2e", dtype="float16").generate(n=2, steps=5, seed=1).texts == a


def test_rng_lives_on_the_networks_device(checkpoints):
    gen = ctrlgen.load(checkpoints["embedding"])
    opts = Options(seed=7)
    device = gen.place(opts)
    rng = Generator.rng(opts, device)
    assert rng.device == next(gen.model.parameters()).device and rng.initial_seed() == 7


def test_unknown_dtype_is_refused_before_loading():
    with pytest.raises(ConfigError, match="unsupported dtype") as e:
        ctrlgen.load("e2e", dtype="int8")
    assert "float16" in (e.value.hint or "")
