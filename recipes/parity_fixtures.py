"""Parity fixtures for the SEDD and MDLM architectures: the REFERENCE code's forward on tiny random weights.

    python -m venv --system-site-packages /tmp/refenv && /tmp/refenv/bin/pip install einops omegaconf
    OMP_NUM_THREADS=1 /tmp/refenv/bin/python recipes/parity_fixtures.py \
        --reference /path/to/reference/pretrained --out tests/fixtures/parity

Runs outside the package: the reference modules (``sedd/model/*.py``; ``mdlm/models/dit.py`` and the
``Diffusion`` methods ``_process_sigma``, ``forward``, ``_subs_parameterization``, ``get_score`` read out of
``mdlm/diffusion.py``) are copied into a scratch directory under /tmp and imported from there, unmodified.
The one swap: a stand-in ``flash_attn`` package in that scratch directory (CUDA-only flash-attn cannot run
here) whose ``flash_attn_varlen_qkvpacked_func`` is ``torch.nn.functional.scaled_dot_product_attention``
(causal off, dropout 0, default softmax scale, same head layout), and — for MDLM only, whose ``dit.py`` calls
it unconditionally — ``layers.rotary.apply_rotary_emb_qkv_``, flash-attn's non-interleaved rotary on q and k.
SEDD is run first without ``flash_attn.layers``, so its own ``rotate_half`` fallback is what runs.

Writes, per architecture, ``config.json`` + ``model.safetensors`` in the reference's layout (SEDD through its
own ``PyTorchModelHubMixin.save_pretrained``; MDLM as the hub models: HF config names, weights under
``backbone.*``, plus ``run_config.json``, the hydra-style config the reference ``DIT`` was built from),
``io.safetensors`` (fixed inputs and the reference outputs, fp32) and ``README.md``. Seed 0; CPU; fp32.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib
import json
import shutil
import sys
import tempfile
import textwrap
import types
from pathlib import Path

import torch
from safetensors.torch import save_file

SEED = 0
TINY = {"hidden_size": 32, "cond_dim": 16, "length": 12, "n_blocks": 2, "n_heads": 4, "dropout": 0.1}
TOKENS = 49  # without MASK; V = 50 with it (both architectures)

FLASH_INTERFACE = '''
import torch
import torch.nn.functional as F


def flash_attn_varlen_qkvpacked_func(qkv, cu_seqlens, max_seqlen, dropout_p=0.0, causal=False, **kw):
    """Stand-in: qkv [(B S), 3, H, D] with equal-length sequences -> [(B S), H, D] via SDPA."""
    assert dropout_p == 0.0 and not causal and not kw
    b = cu_seqlens.numel() - 1
    q, k, v = qkv.view(b, max_seqlen, *qkv.shape[1:]).permute(2, 0, 3, 1, 4)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=False)
    return out.transpose(1, 2).reshape(b * max_seqlen, *qkv.shape[2:])
'''
FLASH_ROTARY = '''
import torch


def apply_rotary_emb_qkv_(qkv, cos, sin, **kw):
    """Stand-in for flash-attn's non-interleaved rotary, in place on q and k: qkv [B, S, 3, H, D], cos/sin [S, D/2]."""
    assert not kw.get("interleaved", False)
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    for j in (0, 1):
        x1, x2 = qkv[:, :, j, :, : c.shape[-1]].clone(), qkv[:, :, j, :, c.shape[-1]:].clone()
        qkv[:, :, j, :, : c.shape[-1]] = x1 * c - x2 * s
        qkv[:, :, j, :, c.shape[-1]:] = x1 * s + x2 * c
    return qkv
'''


def _digest(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in paths}


def _randomise(model: torch.nn.Module) -> None:
    """The references zero the adaLN and output layers; fill every parameter so each path matters."""
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:  # LayerNorm gains near 1
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif "embedding" in name:  # token table: unit scale, as a trained one
                p.copy_(torch.randn(p.shape, generator=g))
            else:  # weights ~ 0.5/sqrt(fan_in), biases ~ 0.1: outputs O(1), every path non-trivial
                p.copy_(torch.randn(p.shape, generator=g) * (0.5 / p.shape[-1] ** 0.5 if p.ndim > 1 else 0.1))


def _inputs(mask_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(SEED + 1)
    ids = torch.randint(0, TOKENS, (3, TINY["length"]), generator=g)
    ids[torch.rand(ids.shape, generator=g) < 0.4] = mask_id  # a mix of masked and clean positions
    ids[1, :3] = mask_id
    return ids, torch.tensor([0.05, 0.7, 3.0])  # σ̄ on both sides of SEDD's expm1 switch at 0.5


def _readme(out: Path, title: str, lines: list[str], digests: dict[str, str]) -> None:
    text = [f"# Parity fixture: {title}", "", "\n\n".join(lines), "",
            "Made by `recipes/parity_fixtures.py` (seed 0, CPU, fp32) from the reference code in "
            "`reference/pretrained/` (sha256 prefixes of the files run: "
            + ", ".join(f"`{k}` {v}" for k, v in digests.items()) + ").", "",
            ("**Swap recorded:** flash-attn (CUDA only) was replaced by a stand-in `flash_attn` package in the "
            "scratch directory: `flash_attn_varlen_qkvpacked_func` → `torch.nn.functional."
            "scaled_dot_product_attention` (causal off, dropout 0, default scale 1/sqrt(head_dim), same head "
            "layout); for MDLM also `layers.rotary.apply_rotary_emb_qkv_` → flash-attn's non-interleaved "
            "rotary on q and k written in torch. SEDD ran its own `rotate_half` fallback. Nothing else changed; "
            "the reference modules were imported unmodified."), ""]
    (out / "README.md").write_text("\n".join(text))


def make_sedd(ref: Path, scratch: Path, out: Path) -> None:
    pkg = scratch / "model"
    shutil.copytree(ref / "sedd" / "model", pkg)
    (pkg / "__init__.py").write_text("from .transformer import SEDD\n")
    from model import SEDD

    cfg = {"ngpus": 1, "tokens": TOKENS, "graph": {"type": "absorb", "file": "data", "report_all": False},
           "noise": {"type": "loglinear", "sigma_min": 1e-4, "sigma_max": 20},
           "model": {"name": "tiny", "type": "ddit", **TINY, "scale_by_sigma": True}}
    torch.manual_seed(SEED)
    model = SEDD(cfg).eval()
    _randomise(model)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    if not (out / "config.json").is_file():  # older hub mixins write the config only when given it
        (out / "config.json").write_text(json.dumps(cfg, indent=2))
    ids, sigma = _inputs(mask_id=TOKENS)
    with torch.no_grad():
        score = model(ids, sigma)
    save_file({"indices": ids, "sigma": sigma, "log_score": score.contiguous()}, str(out / "io.safetensors"))
    _readme(out, "SEDD (`louaaron/sedd-*` layout)", [
        f"Tiny config: tokens {TOKENS} + MASK, graph absorb, model {TINY}, scale_by_sigma true.",
        ("`io.safetensors`: `indices` [3, 12] (MASK = 49), `sigma` [3], `log_score` [3, 12, 50] = "
        "`SEDD.forward(indices, sigma)` in eval mode.")],
        _digest([ref / "sedd/model/transformer.py", ref / "sedd/model/rotary.py"]))
    print(f"sedd: wrote {out} (|log_score| max {score.abs().max():.3f})")


def _diffusion_methods(ref: Path) -> dict[str, types.FunctionType]:
    """``_process_sigma``, ``forward``, ``_subs_parameterization``, ``get_score`` of ``Diffusion``, as written."""
    tree = ast.parse((ref / "mdlm" / "diffusion.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Diffusion")
    wanted = {"_process_sigma", "forward", "_subs_parameterization", "get_score"}
    src = "\n\n".join(textwrap.dedent(ast.get_source_segment((ref / "mdlm" / "diffusion.py").read_text(), f))
                      for f in cls.body if isinstance(f, ast.FunctionDef) and f.name in wanted)
    import numpy as np
    env = {"torch": torch, "np": np, "F": torch.nn.functional}
    exec(compile(src, "mdlm/diffusion.py", "exec"), env)  # noqa: S102 — reference code, scratch run
    return {k: env[k] for k in wanted}


def make_mdlm(ref: Path, scratch: Path, out: Path) -> None:
    (scratch / "flash_attn" / "layers").mkdir()
    (scratch / "flash_attn" / "layers" / "__init__.py").write_text("")
    (scratch / "flash_attn" / "layers" / "rotary.py").write_text(FLASH_ROTARY)
    importlib.invalidate_caches()
    shutil.copy(ref / "mdlm" / "models" / "dit.py", scratch / "mdlm_dit.py")
    from mdlm_dit import DIT

    vocab = TOKENS + 1
    run_cfg = {"backbone": "dit", "parameterization": "subs", "time_conditioning": False, "subs_masking": False,
               "model": {"name": "tiny", "type": "ddit", **TINY, "scale_by_sigma": True, "tie_word_embeddings": False}}
    torch.manual_seed(SEED)
    holder = torch.nn.Module()  # the Diffusion module keeps the DIT as `backbone`
    holder.backbone = DIT(run_cfg, vocab_size=vocab)
    holder.eval()
    _randomise(holder)
    diff = types.SimpleNamespace(backbone=holder.backbone, mask_index=TOKENS, neg_infinity=-1000000.0,
                                 parameterization="subs", time_conditioning=False)
    for name, fn in _diffusion_methods(ref).items():
        setattr(diff, name, types.MethodType(fn, diff))
    ids, sigma = _inputs(mask_id=TOKENS)
    with torch.no_grad():
        logits = holder.backbone(ids, torch.zeros(3))
        log_probs = diff.forward(ids, sigma[:, None])
        score = diff.get_score(ids, sigma[:, None])
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in holder.state_dict().items()}, str(out / "model.safetensors"))
    hub = {"architectures": ["MDLM"], "model_type": "mdlm", "vocab_size": vocab, "model_length": TINY["length"],
           "hidden_dim": TINY["hidden_size"], "cond_dim": TINY["cond_dim"], "n_blocks": TINY["n_blocks"],
           "n_heads": TINY["n_heads"], "dropout": TINY["dropout"], "time_conditioning": False,
           "torch_dtype": "float32"}
    (out / "config.json").write_text(json.dumps(hub, indent=2))
    (out / "run_config.json").write_text(json.dumps(run_cfg, indent=2))
    save_file({"indices": ids, "sigma": sigma, "logits": logits.contiguous(), "log_probs": log_probs.contiguous(),
               "score": score.contiguous()}, str(out / "io.safetensors"))
    _readme(out, "MDLM (`kuleshov-group/mdlm-*` layout)", [
        f"Tiny config: vocabulary {vocab} (MASK = {TOKENS}, the last id), model {TINY}, time conditioning off.",
        ("`config.json`: the hub names (`hidden_dim`, `model_length`, …); `run_config.json`: the hydra-style "
        "config the reference `DIT` was built from. `model.safetensors`: weights under `backbone.*`."),
        ("`io.safetensors`: `indices` [3, 12], `sigma` [3]; `logits` = `DIT(indices, 0)`; `log_probs` = "
        "`Diffusion.forward(indices, sigma)` (SUBS; −1e6 stands for −inf); `score` = `Diffusion.get_score`.")],
        _digest([ref / "mdlm/models/dit.py", ref / "mdlm/diffusion.py"]))
    print(f"mdlm: wrote {out} (|logits| max {logits.abs().max():.3f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, required=True, help="the reference/pretrained folder")
    ap.add_argument("--out", type=Path, required=True, help="where sedd/ and mdlm/ go")
    args = ap.parse_args()
    torch.set_num_threads(1)
    scratch = Path(tempfile.mkdtemp(prefix="ctrlgen-parity-"))
    (scratch / "flash_attn").mkdir()
    (scratch / "flash_attn" / "__init__.py").write_text("")
    (scratch / "flash_attn" / "flash_attn_interface.py").write_text(FLASH_INTERFACE)
    sys.path.insert(0, str(scratch))
    try:
        make_sedd(args.reference.resolve(), scratch, args.out / "sedd")
        make_mdlm(args.reference.resolve(), scratch, args.out / "mdlm")
    finally:
        sys.path.remove(str(scratch))
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
