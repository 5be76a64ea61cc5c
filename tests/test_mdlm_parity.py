"""MDLM architecture (``ctrlgen.models.dit.mdlm``) against the reference code's outputs (issue 16), and the
x̂0 → absorbing-score conversion against exact Bayes on a tiny vocabulary.

The fixture (``tests/fixtures/parity/mdlm``, made by ``recipes/parity_fixtures.py``): hub-layout
``config.json``, the reference's hydra-style ``run_config.json``, ``model.safetensors`` (``backbone.*``) and
the reference's backbone logits, SUBS log-probs (``Diffusion.forward``) and ``Diffusion.get_score``.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ctrlgen.errors import CheckpointError
from ctrlgen.models.dit.checkpoint import read_config
from ctrlgen.models.dit.mdlm import MDLMConfig, MDLMModel, subs_log_score

FIX = Path(__file__).parent / "fixtures" / "parity" / "mdlm"
TOL = 1e-5  # fp32, max abs error
NEG = -1e5  # the reference writes −1e6 for −inf


@pytest.fixture(scope="module")
def io() -> dict[str, torch.Tensor]:
    return load_file(str(FIX / "io.safetensors"))


@pytest.fixture(scope="module")
def model() -> MDLMModel:
    return MDLMModel.from_reference(FIX)


def test_mdlm_parity_backbone_logits(model, io) -> None:
    assert not model.training
    with torch.no_grad():
        out = model.logits(io["indices"], io["sigma"])  # time conditioning off: σ is ignored
    assert io["logits"].std() > 0.1
    assert (out - io["logits"]).abs().max().item() <= TOL


def _agree(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """Max abs error where the reference is finite; −inf exactly where it writes −1e6."""
    finite = ref > NEG
    assert torch.equal(torch.isneginf(ours), ~finite)
    return (ours[finite] - ref[finite]).abs().max().item()


def test_mdlm_parity_subs_log_probs(model, io) -> None:
    with torch.no_grad():
        logp = model(io["indices"], io["sigma"])
    assert _agree(logp, io["log_probs"]) <= TOL
    masked = io["indices"] == model.mask_id
    assert masked.any() and (~masked).any()
    assert torch.allclose(logp.exp().sum(-1), torch.ones(masked.shape))  # distributions, MASK never predicted
    assert (logp[..., model.mask_id][masked] == -math.inf).all()


def test_mdlm_parity_score_matches_reference_get_score(model, io) -> None:
    """ctrlgen's conversion (module doc of mdlm.py) equals MDLM's own ``get_score`` ratios."""
    with torch.no_grad():
        score = model.log_score(io["indices"], io["sigma"]).exp()
    ref = io["score"]
    assert ((score - ref).abs() / ref.clamp(min=1.0)).max().item() <= TOL


def test_mdlm_parity_detects_a_changed_weight(io) -> None:
    model = MDLMModel.from_reference(FIX)
    with torch.no_grad():
        model.backbone.blocks[0].attn_out.weight[0, 0] += 1e-2
        out = model.logits(io["indices"])
    assert (out - io["logits"]).abs().max().item() > TOL


def test_mdlm_parity_config_names(tmp_path: Path) -> None:
    hub = read_config(FIX)
    c = MDLMConfig.from_reference(hub, load_file(str(FIX / "model.safetensors")))
    d = c.dit
    assert (d.vocab_size, d.hidden_size, d.cond_dim, d.n_blocks, d.n_heads, d.length) == (
        hub["vocab_size"], hub["hidden_dim"], hub["cond_dim"], hub["n_blocks"], hub["n_heads"], hub["model_length"])
    assert c.mask_id == hub["vocab_size"] - 1 and c.time_conditioning is False
    # the reference's own run config (hydra names; V read off backbone.vocab_embed.embedding) gives the same model
    run = json.loads((FIX / "run_config.json").read_text())
    assert MDLMConfig.from_reference(run, load_file(str(FIX / "model.safetensors"))) == c
    shutil.copy(FIX / "run_config.json", tmp_path / "config.json")
    shutil.copy(FIX / "model.safetensors", tmp_path / "model.safetensors")
    assert MDLMModel.from_reference(tmp_path).config == c


def _posterior_and_ratio(p0: torch.Tensor, xt: tuple[int, ...], i: int, alpha: float, mask: int):
    """Exact p(x0^i = v | x_t) and p_t(x_t with i := v) / p_t(x_t) by enumeration over x0 (``p0``: [K]*L)."""
    k, n = p0.shape[0], p0.dim()

    def p_t(x: tuple[int, ...]) -> torch.Tensor:
        tot = torch.zeros((), dtype=torch.float64)
        for x0 in itertools.product(range(k), repeat=n):
            q = math.prod((1 - alpha) if x[j] == mask else alpha * (x[j] == x0[j]) for j in range(n))
            tot = tot + p0[x0] * q
        return tot

    joint = torch.zeros(k, dtype=torch.float64)
    for x0 in itertools.product(range(k), repeat=n):
        q = math.prod((1 - alpha) if xt[j] == mask else alpha * (xt[j] == x0[j]) for j in range(n))
        joint[x0[i]] += p0[x0] * q
    ratio = torch.stack([p_t(xt[:i] + (v,) + xt[i + 1:]) for v in range(k)]) / p_t(xt)
    return joint / joint.sum(), ratio


def test_mdlm_parity_conversion_is_exact_bayes() -> None:
    """s(x_t)_{M→v} = p(x0^i = v | x_t)·α/(1 − α), α = e^{−σ̄}: checked on 3 tokens + MASK, length 3."""
    k, mask, sigma = 3, 3, 0.8
    alpha = math.exp(-sigma)
    g = torch.Generator().manual_seed(0)
    p0 = torch.rand((k, k, k), generator=g, dtype=torch.float64) ** 3
    p0 /= p0.sum()
    checked = 0
    for xt in itertools.product(range(k + 1), repeat=3):
        for i in (j for j in range(3) if xt[j] == mask):
            post, ratio = _posterior_and_ratio(p0, xt, i, alpha, mask)
            logp = torch.full((1, 3, k + 1), -math.inf, dtype=torch.float64)
            logp[0, i, :k] = post.log()
            got = subs_log_score(logp, torch.tensor([xt]), sigma, mask)[0, i].exp()
            assert torch.allclose(got[:k], ratio, rtol=1e-5), (xt, i)
            assert got[mask] == 1.0  # own entry
            checked += 1
    assert checked == 3 * 4 ** 2  # every masked position of every x_t


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
    "unknown architecture": (lambda c: c.update(model_type="llada", architectures=["LLaDAModelLM"]), None,
                             "model_type"),
    "mask outside vocabulary": (lambda c: c.update(mask_index=50), None, "mask_index"),
    "missing field": (lambda c: c.pop("hidden_dim"), None, "'hidden_dim'"),
    "wrong shape": (lambda c: c.update(n_blocks=1), None, "backbone.blocks.1"),
    "wrong width": (lambda c: c.update(cond_dim=32), None, "shape"),
    "missing tensor": (None, lambda s: s.pop("backbone.output_layer.linear.bias"), "backbone.output_layer.linear.bias"),
    "unprefixed weights": (None, lambda s: [s.update({k[9:]: s.pop(k)}) for k in list(s)], "lacks tensor"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_mdlm_parity_bad_checkpoint(tmp_path: Path, case: str) -> None:
    edit_cfg, edit_state, named = BAD[case]
    with pytest.raises(CheckpointError, match=named.replace(".", r"\.")):
        MDLMModel.from_reference(_copy(tmp_path, edit_cfg, edit_state))


def test_mdlm_parity_not_subs(tmp_path: Path) -> None:
    run = json.loads((FIX / "run_config.json").read_text())
    run["parameterization"] = "sedd"
    (tmp_path / "config.json").write_text(json.dumps(run))
    shutil.copy(FIX / "model.safetensors", tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="parameterization"):
        MDLMModel.from_reference(tmp_path)


def test_mdlm_parity_pretrained_infill_keeps_hard_positions() -> None:
    from tests.test_sedd_parity import _infill_keeps_hard_positions

    _infill_keeps_hard_positions(FIX)


def test_mdlm_parity_pretrained_unknown_architecture(tmp_path: Path) -> None:
    from ctrlgen.backends.discrete.pretrained import load_pretrained_score

    _copy(tmp_path, lambda c: [c.pop("architectures"), c.update(model_type="llada")])
    with pytest.raises(CheckpointError, match="neither a SEDD nor an MDLM"):
        load_pretrained_score(tmp_path)


@pytest.mark.parametrize("arch", ["sedd", "mdlm", "llada/gqa"])
def test_parity_reference_directories_through_load_say_how_to_use_them(arch: str) -> None:
    """``ctrlgen.load`` reads ctrlgen's layout; a reference directory is named as such, with the loader to use."""
    import ctrlgen

    with pytest.raises(CheckpointError) as info:
        ctrlgen.load(Path(__file__).parent / "fixtures" / "parity" / arch)
    name = arch.split("/")[0]
    assert f"reference {name.upper()} checkpoint" in info.value.message
    assert "from_reference(dir)" in (info.value.hint or "")
