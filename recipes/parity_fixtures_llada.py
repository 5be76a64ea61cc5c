"""Make the LLaDA parity fixtures: tiny random LLaDA models saved in the reference's own layout, and the
reference forward pass on fixed inputs (tests/test_llada_parity.py checks ctrlgen against them).

The reference modelling code (LLaDA's ``modeling_llada.py`` + ``configuration_llada.py``, as copied by
dllm) runs from a scratch copy OUTSIDE the repository; it is never imported by ctrlgen. It needs only
``torch`` and ``transformers`` (both present in ctrlgen's environment), so no scratch venv is needed.

    python recipes/parity_fixtures_llada.py --reference ../shared/reference/pretrained/llada

Writes tests/fixtures/parity/llada/<name>/{config.json, model.safetensors, io.safetensors} for each tiny
configuration, plus manifest.json (versions, seeds, file digests of the reference code).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
REF_FILES = ("modeling_llada.py", "configuration_llada.py")
REF_SUBDIR = Path("dllm/pipelines/llada/models")
SEED, BATCH, LENGTH = 0, 3, 12

# Two tiny configurations that together cover every switch ctrlgen supports.
CONFIGS: dict[str, dict] = {
    # LLaDA-8B's own switches at toy size: GQA (4 query heads, 2 kv heads), untied output, no biases,
    # rope_theta 500000, embedding rows padded past the vocabulary.
    "gqa": {"d_model": 32, "n_heads": 4, "n_kv_heads": 2, "n_layers": 2, "mlp_hidden_size": 48,
            "vocab_size": 90, "embedding_size": 96, "mask_token_id": 88, "eos_token_id": 89, "pad_token_id": 89,
            "rope_theta": 500000.0, "weight_tying": False, "include_bias": False},
    # The other supported switches: multi-query attention, tied output, biases everywhere (norms too),
    # logit scaling, input-embedding scaling, mlp_ratio instead of mlp_hidden_size.
    "tied": {"d_model": 32, "n_heads": 4, "n_kv_heads": None, "multi_query_attention": True, "n_layers": 2,
             "mlp_hidden_size": None, "mlp_ratio": 2, "vocab_size": 64, "embedding_size": None,
             "mask_token_id": 63, "eos_token_id": 62, "pad_token_id": 62, "rope_theta": 10000.0,
             "weight_tying": True, "include_bias": True, "include_qkv_bias": True, "scale_logits": True,
             "input_emb_norm": True},
}
COMMON = {"block_type": "llama", "activation_type": "silu", "layer_norm_type": "rms", "rope": True, "alibi": False,
          "rope_full_precision": True, "rms_norm_eps": 1e-5, "max_sequence_length": 64, "attention_dropout": 0.0,
          "residual_dropout": 0.0, "embedding_dropout": 0.0, "init_device": "cpu", "flash_attention": False}


def scratch_copy(reference: Path, scratch: Path) -> Path:
    """Copy the reference modules into ``scratch/llada_ref`` (a package) unchanged; return ``scratch``."""
    pkg = scratch / "llada_ref"
    if pkg.exists():
        shutil.rmtree(pkg)
    pkg.mkdir(parents=True)
    for name in REF_FILES:
        shutil.copy(reference / REF_SUBDIR / name, pkg / name)
    (pkg / "__init__.py").write_text("")
    return scratch


def random_weights(model: torch.nn.Module, seed: int) -> None:
    """Fill every parameter from a seeded generator (the reference leaves them uninitialised with
    init_params=False): norms ~ 1 + 0.1 N, biases ~ 0.1 N, embeddings ~ N, matrices ~ N / sqrt(fan_in)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            z = torch.randn(p.shape, generator=g)
            if "norm" in name or "ln_f" in name:
                p.copy_(1 + 0.1 * z if name.endswith("weight") else 0.1 * z)
            elif name.endswith("bias"):
                p.copy_(0.1 * z)
            elif "wte" in name:
                p.copy_(z)
            else:
                p.copy_(z / p.shape[1] ** 0.5)


def make_fixture(name: str, overrides: dict, out: Path) -> dict:
    from llada_ref.configuration_llada import LLaDAConfig
    from llada_ref.modeling_llada import (
        LLaDAModel,
        LLaDAModelLM,
        create_model_config_from_pretrained_config,
    )
    from safetensors.torch import save_file

    config = LLaDAConfig(**{**COMMON, **overrides})
    # LLaDAModelLM.__init__ hard-codes init_device="cuda" for the inner model; build the inner model on CPU
    # ourselves and hand it over (same modules, same parameter names: model.transformer.*).
    inner = LLaDAModel(create_model_config_from_pretrained_config(config), init_params=False)
    model = LLaDAModelLM(config, model=inner).eval()
    random_weights(model, SEED)
    g = torch.Generator().manual_seed(SEED + 1)
    ids = torch.randint(0, config.vocab_size, (BATCH, LENGTH), generator=g)
    ids[torch.rand(BATCH, LENGTH, generator=g) < 0.3] = config.mask_token_id  # masked positions, as in sampling
    attention_mask = torch.ones(BATCH, LENGTH, dtype=torch.long)
    attention_mask[1, -4:] = 0  # right padding on one row
    attention_mask[2, :2] = 0   # left padding on another
    with torch.no_grad():
        # use_cache is passed because transformers 5 no longer gives every config a use_cache attribute.
        logits = model(ids, use_cache=False, return_dict=True).logits
        logits_padded = model(ids, attention_mask=attention_mask, use_cache=False, return_dict=True).logits
    target = out / name
    if target.exists():
        shutil.rmtree(target)
    model.save_pretrained(target)  # the reference's own layout: config.json + model.safetensors
    (target / "generation_config.json").unlink(missing_ok=True)
    save_file({"ids": ids, "attention_mask": attention_mask, "logits": logits.contiguous(),
               "logits_padded": logits_padded.contiguous()}, str(target / "io.safetensors"))
    for f in target.iterdir():
        f.chmod(0o644)  # the writers make private (0600) files; fixtures are ordinary repository files
    return {"config": overrides, "logits_shape": list(logits.shape),
            "files": sorted(p.name for p in target.iterdir())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, default=REPO.parent / "shared/reference/pretrained/llada",
                    help="folder of the LLaDA reference code (holds dllm/pipelines/llada/models/)")
    ap.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "ctrlgen-parity-llada",
                    help="scratch folder outside the repo where the reference code is copied and run")
    ap.add_argument("--out", type=Path, default=REPO / "tests/fixtures/parity/llada")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    sys.path.insert(0, str(scratch_copy(args.reference, args.scratch)))
    import transformers

    args.out.mkdir(parents=True, exist_ok=True)
    fixtures = {name: make_fixture(name, cfg, args.out) for name, cfg in CONFIGS.items()}
    digests = {f: hashlib.sha256((args.reference / REF_SUBDIR / f).read_bytes()).hexdigest() for f in REF_FILES}
    manifest = {"seed": SEED, "torch": torch.__version__, "transformers": transformers.__version__,
                "reference_sha256": digests, "fixtures": fixtures}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
