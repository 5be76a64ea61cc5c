"""The masked backend's network is the LLaDA architecture: ``MaskedLLaDA`` composes ``LLaDAModel`` (reference
parameter layout under ``llada.``), its config is checked, and a reference LLaDA directory is not mistaken for a
ctrlgen checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ctrlgen.api import load
from ctrlgen.backends.masked.generator import MaskedGenerator
from ctrlgen.backends.masked.llada import MaskedLLaDA, MaskedLLaDAConfig
from ctrlgen.errors import CheckpointError, ConfigError
from ctrlgen.models.llada.config import LLaDAConfig
from ctrlgen.models.llada.model import LLaDAModel
from ctrlgen.models.pretrained import save_pretrained
from ctrlgen.text.tokenizer import split_words

REFERENCE = Path(__file__).parent / "fixtures" / "parity" / "llada" / "gqa"
SIZES = {"seq_len": 16, "d_model": 32, "n_heads": 4, "n_kv_heads": 2, "n_layers": 2, "mlp_hidden_size": 48}


def test_masked_llada_is_llada_with_mask_logits_removed(tokenizer):
    torch.manual_seed(0)
    model = MaskedLLaDA(MaskedLLaDAConfig(vocab_size=len(tokenizer), mask_id=tokenizer.vocab.mask_id, **SIZES))
    assert isinstance(model.llada, LLaDAModel) and model.model_type == "llada"
    assert all(k.startswith("llada.model.transformer.") for k in model.state_dict())
    ids = torch.randint(0, len(tokenizer), (3, 16))
    ids[:, 5:9] = tokenizer.vocab.mask_id
    logits = model(ids)
    mask = tokenizer.vocab.mask_id
    assert logits.shape == (3, 16, len(tokenizer)) and torch.isneginf(logits[..., mask]).all()
    # the same weights in a bare LLaDAModel (the reference's names) give the same logits off the MASK column
    bare = LLaDAModel(model.config.llada())
    bare.load_state_dict({k.removeprefix("llada."): v for k, v in model.state_dict().items()})
    ref = bare(ids)
    keep = torch.arange(len(tokenizer)) != mask
    assert torch.equal(logits[..., keep], ref[..., keep]) and torch.isfinite(ref[..., mask]).all()
    # GPT-2-style init: small weights, residual outputs scaled down
    t = model.llada.model.transformer
    assert t.wte.weight.std() < 0.03 and t.blocks[0].attn_out.weight.std() < t.blocks[0].q_proj.weight.std()


@pytest.mark.parametrize(("field", "value", "match"), [
    ("n_heads", 3, "n_heads"), ("n_kv_heads", 3, "n_kv_heads"), ("d_model", 36, "head_dim"),
    ("mask_id", 10_000, "mask_id"), ("rope_theta", 0.5, "rope_theta"), ("n_layers", 0, "n_layers")])
def test_bad_sizes_are_config_errors_naming_the_field(tokenizer, field, value, match):
    kw = {"vocab_size": len(tokenizer), "mask_id": tokenizer.vocab.mask_id, **SIZES, field: value}
    with pytest.raises(ConfigError, match=match):
        MaskedLLaDAConfig(**kw)


def test_checkpoint_with_bad_field_is_a_checkpoint_error(tokenizer, tmp_path):
    model = MaskedLLaDA(MaskedLLaDAConfig(vocab_size=len(tokenizer), mask_id=tokenizer.vocab.mask_id, **SIZES))
    path = save_pretrained(tmp_path / "m", model, tokenizer, {"diffusion": {}})
    assert isinstance(load(path), MaskedGenerator)
    cfg = json.loads((path / "config.json").read_text())
    cfg["model"]["n_kv_heads"] = 3
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="n_kv_heads"):
        load(path)


def test_a_bare_llada_model_serves_the_generator_with_a_seq_len(tokenizer):
    torch.manual_seed(0)
    V = len(tokenizer)
    model = LLaDAModel(LLaDAConfig(d_model=32, n_heads=2, n_kv_heads=1, n_layers=1, mlp_hidden_size=48, vocab_size=V,
                                   embedding_size=V + 6, mask_token_id=tokenizer.vocab.mask_id, rope_theta=10000.0))
    with pytest.raises(ConfigError, match="seq_len"):
        MaskedGenerator(model, tokenizer)
    gen = MaskedGenerator(model, tokenizer, seq_len=16)
    out = gen.infill("The Mill is a [MASK:2] pub .", n=2, steps=4)
    assert all(split_words(t)[:4] == ["The", "Mill", "is", "a"] for t in out.texts) and out.tokens.shape[1] == 16


def test_reference_directory_loads_by_from_reference_not_by_ctrlgen_load():
    model = LLaDAModel.from_reference(REFERENCE)  # the supported way in
    assert model.mask_id == 88
    with pytest.raises(CheckpointError) as info:
        load(REFERENCE)
    text = f"{info.value.message} {info.value.hint}"
    assert "config.json" in text and "llada" in text.lower()


def test_reference_directory_error_says_how_to_use_it():
    with pytest.raises(CheckpointError) as info:
        load(REFERENCE)
    text = f"{info.value.message} {info.value.hint}"
    assert "LLaDAModel.from_reference" in text and "MaskedGenerator" in text



def _tiny(tokenizer) -> MaskedLLaDA:
    torch.manual_seed(0)
    return MaskedLLaDA(MaskedLLaDAConfig(vocab_size=len(tokenizer), mask_id=tokenizer.vocab.mask_id, seq_len=24,
                                         d_model=32, n_layers=2, n_heads=2, n_kv_heads=2, mlp_hidden_size=64))


def test_checkpoint_sampling_default_block_length_is_used_unless_the_call_says(tokenizer, tmp_path):
    from ctrlgen.backends.masked.sampler import SamplerConfig

    path = save_pretrained(tmp_path / "m", _tiny(tokenizer), tokenizer, {"diffusion": {}, "sampling": {"block_length": 8}})
    gen = load(path)
    assert gen.generate(n=1, steps=6, seed=0).report["block_length"] == 8  # the model's default
    one = gen.generate(n=1, steps=6, seed=0, sampler=SamplerConfig(block_length=24))
    assert one.report["block_length"] == 24  # the call's own wins
    bad = save_pretrained(tmp_path / "bad", _tiny(tokenizer), tokenizer, {"diffusion": {}, "sampling": {"block_length": 5}})
    with pytest.raises(CheckpointError, match="sampling.block_length"):
        load(bad)
