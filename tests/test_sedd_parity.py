"""SEDD architecture (``ctrlgen.models.dit.sedd``) against the reference code's outputs (issue 16).

The fixture (``tests/fixtures/parity/sedd``, made by ``recipes/parity_fixtures.py``) holds the reference's
``config.json`` + ``model.safetensors`` for a tiny random model and its forward on fixed inputs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ctrlgen.errors import CheckpointError
from ctrlgen.models.dit.checkpoint import read_config
from ctrlgen.models.dit.sedd import SEDDConfig, SEDDModel

FIX = Path(__file__).parent / "fixtures" / "parity" / "sedd"
TOL = 1e-5  # fp32, max abs error


@pytest.fixture(scope="module")
def io() -> dict[str, torch.Tensor]:
    return load_file(str(FIX / "io.safetensors"))


def _max_err(model: SEDDModel, io: dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        out = model(io["indices"], io["sigma"])
    assert out.shape == io["log_score"].shape
    return (out - io["log_score"]).abs().max().item()


def test_sedd_parity_forward(io) -> None:
    model = SEDDModel.from_reference(FIX)
    assert not model.training  # dropout 0.1 in the config must be off
    ref = io["log_score"]
    assert ref.std() > 0.1 and torch.isfinite(ref).all()  # the fixture is not trivial
    assert _max_err(model, io) <= TOL


def test_sedd_parity_detects_a_changed_weight(io) -> None:
    """The parity check can fail: one modulation bias of block 1 nudged by 1e-2 moves the output past the tolerance."""
    model = SEDDModel.from_reference(FIX)
    with torch.no_grad():
        model.blocks[1].adaLN_modulation.bias[0] += 1e-2
    assert _max_err(model, io) > TOL


def test_sedd_parity_config_names() -> None:
    cfg = read_config(FIX)
    c = SEDDConfig.from_reference(cfg)
    d = c.dit
    m = cfg["model"]
    assert (d.hidden_size, d.cond_dim, d.n_blocks, d.n_heads, d.length) == (
        m["hidden_size"], m["cond_dim"], m["n_blocks"], m["n_heads"], m["length"])
    assert d.vocab_size == cfg["tokens"] + 1 and c.mask_id == cfg["tokens"]  # absorb: MASK appended
    assert c.graph == "absorbing" and c.scale_by_sigma is True and d.dropout == pytest.approx(0.1)
    assert SEDDConfig.from_reference({"config": cfg}) == c  # the mixin's wrapped form


def test_sedd_parity_state_dict_names_are_the_reference(io) -> None:
    assert set(SEDDModel.from_reference(FIX).state_dict()) == set(load_file(str(FIX / "model.safetensors")))


def test_sedd_parity_pytorch_bin(tmp_path: Path, io) -> None:
    shutil.copy(FIX / "config.json", tmp_path / "config.json")
    torch.save(load_file(str(FIX / "model.safetensors")), tmp_path / "pytorch_model.bin")
    assert _max_err(SEDDModel.from_reference(tmp_path), io) <= TOL


def _copy(tmp_path: Path, edit_cfg=None, edit_state=None) -> Path:
    cfg = json.loads((FIX / "config.json").read_text())
    state = load_file(str(FIX / "model.safetensors"))
    if edit_cfg:
        edit_cfg(cfg)
    if edit_state:
        edit_state(state)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    save_file(state, str(tmp_path / "model.safetensors"))
    return tmp_path


BAD = {
    "unknown architecture": (lambda c: c["model"].update(type="llada"), None, "model.type"),
    "unknown graph": (lambda c: c["graph"].update(type="gaussian"), None, "graph.type"),
    "missing field": (lambda c: c["model"].pop("n_heads"), None, "'n_heads'"),
    "wrong type": (lambda c: c.update(tokens="49"), None, "'tokens'"),
    "scale on uniform": (lambda c: c["graph"].update(type="uniform"), None, "scale_by_sigma"),
    "wrong shape": (lambda c: c["model"].update(hidden_size=64), None, "shape"),
    "missing tensor": (None, lambda s: s.pop("blocks.1.attn_out.weight"), "blocks.1.attn_out.weight"),
    "unexpected tensor": (None, lambda s: s.update({"blocks.2.norm1.weight": torch.ones(32)}), "blocks.2.norm1.weight"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_sedd_parity_bad_checkpoint(tmp_path: Path, case: str) -> None:
    edit_cfg, edit_state, named = BAD[case]
    with pytest.raises(CheckpointError, match=named.replace(".", r"\.")):
        SEDDModel.from_reference(_copy(tmp_path, edit_cfg, edit_state))


def test_sedd_parity_no_weights(tmp_path: Path) -> None:
    shutil.copy(FIX / "config.json", tmp_path / "config.json")
    with pytest.raises(CheckpointError, match="no weights"):
        SEDDModel.from_reference(tmp_path)


def _infill_keeps_hard_positions(directory: Path) -> None:
    """Shared by the SEDD and MDLM tests: the discrete backend's sampler runs on a loaded reference checkpoint;
    projected (hard) positions hold at every step and in the output, and no MASK is left."""
    from ctrlgen.backends.discrete.pretrained import load_pretrained_score
    from ctrlgen.backends.discrete.sampler import SEDDSampler, fixed_tokens_projector

    score, diffusion = load_pretrained_score(directory)
    L, mask = score.config.seq_len, score.config.mask_id
    fixed = torch.zeros(L, dtype=torch.bool)
    fixed[[0, 1, 5, L - 1]] = True
    values = torch.zeros(L, dtype=torch.long).masked_scatter(fixed, torch.tensor([7, 3, 11, 2]))
    out = SEDDSampler(steps=6).sample(score, diffusion, n=4, seq_len=None, generator=torch.Generator().manual_seed(0),
                                      projector=fixed_tokens_projector(fixed, values), return_trajectory=True)
    for x in (*out.trajectory, out.tokens):
        assert torch.equal(x[:, fixed], values[fixed].expand(4, -1))
    assert out.tokens.shape == (4, L) and not (out.tokens == mask).any()
    assert len({tuple(r) for r in out.tokens[:, ~fixed].tolist()}) > 1  # the free positions were sampled


def test_sedd_parity_pretrained_infill_keeps_hard_positions() -> None:
    _infill_keeps_hard_positions(FIX)
