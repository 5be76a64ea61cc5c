import json

import pytest
import torch

from ctrlgen.api import load
from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.backends.embedding.model import EmbeddingLM
from ctrlgen.errors import CheckpointError
from ctrlgen.models.pretrained import load_pretrained, save_pretrained


@pytest.fixture
def saved(model_dir):
    return model_dir


def test_roundtrip_bit_identical(tiny_model, saved):
    back, tok, cfg = load_pretrained(saved, EmbeddingLM)
    for (k, a), (_, b) in zip(tiny_model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    x, t = torch.randn(2, 24, 8), torch.tensor([3, 50])
    assert torch.equal(tiny_model(x, t), back(x, t))
    assert cfg["diffusion"] == {"steps": 100} and cfg["model_type"] == "embedding-lm"
    a = load(saved).generate(n=2, steps=5, seed=3)
    b = EmbeddingGenerator(tiny_model, tok, load(saved).diffusion).generate(n=2, steps=5, seed=3)
    assert a.texts == b.texts


def test_fp16_checkpoint_loads_as_float32(tiny_model, tokenizer, tmp_path):
    save_pretrained(tmp_path / "h", tiny_model, tokenizer, dtype=torch.float16)
    back, _, _ = load_pretrained(tmp_path / "h", EmbeddingLM)
    assert back.embedding.weight.dtype == torch.float32
    torch.testing.assert_close(back.embedding.weight, tiny_model.embedding.weight, atol=1e-2, rtol=1e-3)


def test_truncated_weights(saved):
    w = saved / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_pretrained(saved, EmbeddingLM)


def test_missing_files(saved):
    (saved / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="tokenizer.json"):
        load_pretrained(saved, EmbeddingLM)


def test_corrupted_config(saved):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json"):
        load(saved)


def test_mismatched_field_is_named(saved):
    cfg = json.loads((saved / "config.json").read_text())
    cfg["model"]["embed_dim"] = 12
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="shape"):
        load_pretrained(saved, EmbeddingLM)
    cfg["model"]["embed_dim"] = 8
    cfg["model"]["vocab_size"] += 1
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="vocab_size"):
        load_pretrained(saved, EmbeddingLM)
    cfg["model"]["vocab_size"] -= 1
    cfg["model"]["colour"] = 1
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="colour"):
        load_pretrained(saved, EmbeddingLM)


def test_unknown_model(tmp_path):
    with pytest.raises(CheckpointError, match="bundled models"):
        load("no-such-model")
    with pytest.raises(CheckpointError):
        load(tmp_path)  # an empty directory


def test_save_replaces_atomically(tiny_model, tokenizer, saved, monkeypatch):
    """A save that fails half way leaves the previous checkpoint intact."""
    before = (saved / "model.safetensors").read_bytes()

    def boom(path):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        save_pretrained(saved, tiny_model, tokenizer, write_extra=boom)
    assert (saved / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["ckpt"]
