"""LLaDA parity: ctrlgen's own LLaDA architecture against the reference forward pass on tiny random weights
(fixtures made by recipes/parity_fixtures_llada.py, see tests/fixtures/parity/llada/README.md), the loader
reading the reference's config names and weight layouts, and bad checkpoints -> CheckpointError naming the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ctrlgen.errors import CheckpointError
from ctrlgen.models.llada.model import TIED_OUTPUT, LLaDAModel

FIXTURES = Path(__file__).parent / "fixtures" / "parity" / "llada"
NAMES = ["gqa", "tied"]
TOL = 1e-5  # fp32 max abs error allowed against the reference logits


def _io(name: str) -> dict[str, torch.Tensor]:
    return load_file(str(FIXTURES / name / "io.safetensors"))


@pytest.fixture(scope="module")
def models() -> dict[str, LLaDAModel]:
    return {name: LLaDAModel.from_reference(FIXTURES / name) for name in NAMES}


def _copy(tmp_path: Path, name: str = "gqa") -> Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


def _edit_config(directory: Path, **changes) -> None:
    path = directory / "config.json"
    cfg = json.loads(path.read_text())
    for key, value in changes.items():
        if value is _DROP:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    path.write_text(json.dumps(cfg))


_DROP = object()


@pytest.mark.parametrize("name", NAMES)
def test_llada_parity_forward(models: dict[str, LLaDAModel], name: str) -> None:
    io, model = _io(name), models[name]
    with torch.no_grad():
        logits = model(io["ids"])
        padded = model(io["ids"], attention_mask=io["attention_mask"])
    ref, ref_padded = io["logits"][..., : model.vocab_size], io["logits_padded"][..., : model.vocab_size]
    assert logits.shape == ref.shape and logits.dtype == torch.float32
    assert (logits - ref).abs().max().item() <= TOL
    assert (padded - ref_padded).abs().max().item() <= TOL
    assert (ref - ref_padded).abs().max().item() > 1e-2  # the padding mask really changes the reference output


def test_llada_parity_loader_reads_reference_names(models: dict[str, LLaDAModel]) -> None:
    gqa, tied = models["gqa"].config, models["tied"].config
    assert (gqa.n_heads, gqa.n_kv_heads, gqa.mlp_hidden_size, gqa.vocab_size, gqa.embedding_size) == (4, 2, 48, 90, 96)
    assert (gqa.rope_theta, gqa.weight_tying, gqa.include_bias, gqa.norm_bias) == (500000.0, False, False, False)
    assert tied.n_kv_heads == 1  # multi_query_attention: true
    assert gqa.max_sequence_length == tied.max_sequence_length == 64
    assert tied.mlp_hidden_size == 2 * 32  # mlp_ratio * d_model when mlp_hidden_size is null
    assert tied.embedding_size == tied.vocab_size == 64  # embedding_size: null
    assert (tied.weight_tying, tied.norm_bias, tied.include_qkv_bias, tied.scale_logits, tied.input_emb_norm) == \
        (True, True, True, True, True)
    assert (models["gqa"].mask_id, models["tied"].mask_id) == (88, 63)
    for name in NAMES:  # parameter names are exactly the reference's (model.transformer.*)
        assert set(models[name].state_dict()) == set(load_file(str(FIXTURES / name / "model.safetensors")))


def test_llada_parity_masked_backend_interface(models: dict[str, LLaDAModel]) -> None:
    """``model(ids[B, L]) -> logits[B, L, vocab_size]``, ``mask_id`` inside the vocabulary, attention
    bidirectional: changing the last token changes the logits at the first position."""
    model = models["gqa"]
    ids = torch.full((2, 7), model.mask_id)
    other = ids.clone()
    other[:, -1] = 5
    with torch.no_grad():
        a, b = model(ids), model(other)
    assert a.shape == (2, 7, model.vocab_size) and 0 <= model.mask_id < model.vocab_size
    assert (a[:, 0] - b[:, 0]).abs().max() > 1e-4


def test_llada_parity_sharded_and_bin_layouts(tmp_path: Path) -> None:
    io = _io("gqa")
    state = load_file(str(FIXTURES / "gqa" / "model.safetensors"))
    names = sorted(state)
    sharded = _copy(tmp_path, "gqa")
    (sharded / "model.safetensors").unlink()
    weight_map = {}
    for i, part in enumerate((names[: len(names) // 2], names[len(names) // 2:])):
        shard = f"model-0000{i + 1}-of-00002.safetensors"
        save_file({k: state[k] for k in part}, str(sharded / shard))
        weight_map.update(dict.fromkeys(part, shard))
    (sharded / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    binary = tmp_path / "bin"
    binary.mkdir()
    shutil.copy(FIXTURES / "gqa" / "config.json", binary)
    torch.save(state, binary / "pytorch_model.bin")
    for directory in (sharded, binary):
        with torch.no_grad():
            logits = LLaDAModel.from_reference(directory)(io["ids"])
        assert (logits - io["logits"][..., :90]).abs().max().item() <= TOL


def test_llada_parity_tied_checkpoint_may_carry_output_copy(tmp_path: Path) -> None:
    d = _copy(tmp_path, "tied")
    state = load_file(str(d / "model.safetensors"))
    state[TIED_OUTPUT] = state["model.transformer.wte.weight"].clone()
    save_file(state, str(d / "model.safetensors"))
    with torch.no_grad():
        logits = LLaDAModel.from_reference(d)(_io("tied")["ids"])
    assert (logits - _io("tied")["logits"]).abs().max().item() <= TOL


@pytest.mark.parametrize(("changes", "field"), [
    ({"block_type": "sequential"}, "block_type"),
    ({"block_type": _DROP}, "block_type"),  # the reference's default is the sequential block
    ({"activation_type": "swiglu"}, "activation_type"),
    ({"layer_norm_type": "default"}, "layer_norm_type"),
    ({"alibi": True}, "alibi"),
    ({"rope": False}, "rope"),
    ({"block_group_size": 2}, "block_group_size"),
    ({"attention_layer_norm": True}, "attention_layer_norm"),
    ({"model_type": "sedd"}, "model_type"),
    ({"mask_token_id": 90}, "mask_token_id"),  # == vocab_size: outside the vocabulary
    ({"mask_token_id": -1}, "mask_token_id"),
    ({"mask_token_id": None}, "mask_token_id"),
    ({"n_kv_heads": 3}, "n_kv_heads"),
    ({"multi_query_attention": True}, "multi_query_attention"),  # disagrees with n_kv_heads = 2
    ({"embedding_size": 80}, "embedding_size"),
    ({"d_model": 30}, "d_model"),
    ({"n_layers": 0}, "n_layers"),
    ({"weight_tying": "yes"}, "weight_tying"),
], ids=lambda v: "-".join(f"{k}={v[k] if v[k] is not _DROP else 'missing'}" for k in v) if isinstance(v, dict) else v)
def test_llada_parity_bad_config_names_the_field(tmp_path: Path, changes: dict, field: str) -> None:
    d = _copy(tmp_path)
    _edit_config(d, **changes)
    with pytest.raises(CheckpointError, match=f"'{field}'"):
        LLaDAModel.from_reference(d)


def test_llada_parity_bad_weights_name_the_tensor(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    state = load_file(str(d / "model.safetensors"))
    key = "model.transformer.blocks.1.up_proj.weight"

    missing = dict(state)
    del missing[key]
    save_file(missing, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError, match=f"lacks tensor '{key}'"):
        LLaDAModel.from_reference(d)

    save_file({**state, key: torch.zeros(40, 32)}, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"up_proj.weight' has shape \(40, 32\), config.json implies \(48, 32\)"):
        LLaDAModel.from_reference(d)

    save_file({**state, "model.transformer.wpe.weight": torch.zeros(4, 32)}, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError, match="unexpected tensors.*wpe"):
        LLaDAModel.from_reference(d)

    save_file({**state, key: torch.full((48, 32), float("nan"))}, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError, match="up_proj.weight.*non-finite"):
        LLaDAModel.from_reference(d)

    (d / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupted"):
        LLaDAModel.from_reference(d)

    (d / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="has no weights"):
        LLaDAModel.from_reference(d)

    index = {"weight_map": {key: "model-00001-of-00002.safetensors"}}
    (d / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="model-00001-of-00002.safetensors"):
        LLaDAModel.from_reference(d)

    (d / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        LLaDAModel.from_reference(d)


def test_llada_parity_bf16_load_is_close(models: dict[str, LLaDAModel]) -> None:
    """``dtype=torch.bfloat16`` loads and runs in bf16 (RMSNorm statistics and RoPE stay float32); its
    error against the fp32 reference is measured, not tightly bounded (bf16 has ~3 significant digits)."""
    io = _io("gqa")
    model = LLaDAModel.from_reference(FIXTURES / "gqa", dtype=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    with torch.no_grad():
        logits = model(io["ids"])
    assert logits.dtype == torch.bfloat16
    ref = io["logits"][..., :90]
    assert (logits.float() - ref).abs().max().item() < 0.1 * ref.abs().max().item()
