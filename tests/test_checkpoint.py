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
    with pytest.raises(CheckpointError, match=r"changed: model\.embed_dim"):  # the digests see it first
        load_pretrained(saved, EmbeddingLM)
    del cfg["integrity"]  # an unsealed checkpoint: the structural checks still name the field
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


# ------------------------------------------------------------------------------------ self-verification
def _edit_config(saved, fn):
    cfg = json.loads((saved / "config.json").read_text())
    fn(cfg)
    (saved / "config.json").write_text(json.dumps(cfg))


def test_saved_checkpoint_is_sealed(saved):
    table = json.loads((saved / "config.json").read_text())["integrity"]
    assert table["weights_sha256"].startswith("sha256:") and "diffusion.steps" in table["fields"]
    load_pretrained(saved, EmbeddingLM)  # verifies


def test_flipped_weight_bytes_are_refused(saved):
    """A tensor's bytes changed but the file still parses: only the digest can tell (it used to load silently)."""
    w = saved / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-8] ^= 0x40  # inside the last tensor's data
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the digest"):
        load_pretrained(saved, EmbeddingLM)


def test_edited_schedule_field_is_named(saved):
    _edit_config(saved, lambda c: c["diffusion"].update(steps=50))
    with pytest.raises(CheckpointError, match=r"changed: diffusion\.steps"):
        load(saved)


def test_edited_tokenizer_is_refused(saved):
    t = saved / "tokenizer.json"
    t.write_text(t.read_text().replace("pub", "bar", 1))
    with pytest.raises(CheckpointError, match="tokenizer.json does not match"):
        load_pretrained(saved, EmbeddingLM)


def test_non_finite_weights_are_refused(tiny_model, tokenizer, tmp_path):
    with torch.no_grad():
        tiny_model.embedding.weight[0, 0] = float("nan")
    save_pretrained(tmp_path / "nan", tiny_model, tokenizer)  # sealed as it is: the digests agree
    with pytest.raises(CheckpointError, match="embedding.weight.*non-finite"):
        load_pretrained(tmp_path / "nan", EmbeddingLM)


def test_invalid_model_fields_are_a_checkpoint_error(saved):
    """heads that do not divide hidden: the model's own error comes back as a CheckpointError naming the file."""
    def bad(c):
        c["model"]["heads"] = 3
        del c["integrity"]
    _edit_config(saved, bad)
    with pytest.raises(CheckpointError, match="config.json: the 'model' fields"):
        load_pretrained(saved, EmbeddingLM)


def test_unsealed_checkpoint_loads_with_a_warning(saved, caplog):
    _edit_config(saved, lambda c: c.pop("integrity"))
    with caplog.at_level("WARNING"):
        load_pretrained(saved, EmbeddingLM)
    assert "unverified" in caplog.text


@pytest.mark.parametrize("name", ["e2e", "e2e-sedd", "e2e-edit", "e2e-ar-draft", "e2e-teacher-1"])
def test_bundled_checkpoints_are_sealed_and_verify(name):
    from ctrlgen.models.assets import resolve_model_path
    from ctrlgen.models.integrity import verify

    d = resolve_model_path(name)
    cfg = json.loads((d / "config.json").read_text())
    assert "integrity" in cfg
    verify(cfg, d, d / "model.safetensors", d / "tokenizer.json")


def test_every_declared_network_class_matches_its_model_type():
    """``BackendSpec.models`` (and the shared AR LM) name each saved network once; bundled checkpoints resolve."""
    from ctrlgen.api import model_class
    from ctrlgen.models.assets import MODELS, resolve_model_path
    from ctrlgen.models.pretrained import read_config
    from ctrlgen.registry import BACKENDS

    declared = {t for n in BACKENDS for t in BACKENDS.get(n).models} | {"ar-lm"}
    for t in declared:
        assert model_class(t).model_type == t
    for name in MODELS:
        path = resolve_model_path(name)
        if (path / "config.json").is_file():
            assert read_config(path)["model_type"] in declared, name
    with pytest.raises(CheckpointError, match="known"):
        model_class("no-such-type")
