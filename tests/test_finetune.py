"""Fine-tuning through accelerate (ctrlgen.training.finetune) on a tiny LLaDA mask predictor: full and LoRA runs,
merged checkpoints and adapters, an adapter refused on another base, bf16 autocast, and a 2-process CPU launch."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist

from ctrlgen.api import load
from ctrlgen.backends.masked.diffusion import MaskedDiffusion
from ctrlgen.backends.masked.llada import MaskedLLaDA, MaskedLLaDAConfig
from ctrlgen.errors import CheckpointError, ConfigError
from ctrlgen.models.pretrained import load_pretrained, save_pretrained
from ctrlgen.text.dataset import encode_corpus
from ctrlgen.text.tokenizer import Tokenizer
from ctrlgen.training.finetune import (
    BASE_RECORD,
    FinetuneConfig,
    LoraSettings,
    finetune,
    load_adapter,
)

TINY_CSV = Path(__file__).parent / "fixtures" / "tiny_e2e.csv"
TARGETS = ("q_proj", "k_proj", "v_proj", "attn_out")


def tiny_base(tok: Tokenizer, path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    cfg = MaskedLLaDAConfig(vocab_size=len(tok), mask_id=tok.vocab.mask_id, seq_len=24, d_model=32, n_layers=2,
                            n_heads=2, n_kv_heads=1, mlp_hidden_size=64)
    return save_pretrained(path, MaskedLLaDA(cfg), tok, {"diffusion": {}})


@pytest.fixture(scope="module")
def base(tokenizer: Tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_base(tokenizer, tmp_path_factory.mktemp("ft") / "base")


def held_loss(model: torch.nn.Module, tok: Tokenizer, texts: list[str]) -> float:
    """The masked objective on every text, 8 fixed noise draws (the same draws for every model)."""
    data = encode_corpus(texts, tok, 24)
    diff, g = MaskedDiffusion(tok.vocab.mask_id), torch.Generator().manual_seed(123)
    with torch.no_grad():
        return float(torch.stack([diff.training_losses(model.eval(), data, g)["loss"].mean() for _ in range(8)]).mean())


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_pretrained(path, MaskedLLaDA)[0].state_dict()


@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_full_finetune_lowers_the_loss_and_the_checkpoint_loads(base, tokenizer, tiny_texts, tmp_path, precision):
    before = held_loss(load_pretrained(base, MaskedLLaDA)[0], tokenizer, tiny_texts)
    cfg = FinetuneConfig(steps=30, batch_size=5, gradient_accumulation_steps=2, lr=3e-3, mixed_precision=precision,
                         cpu=True)
    res = finetune(base, tiny_texts, tmp_path / "full", cfg)
    model, _, meta = load_pretrained(res.output_dir, MaskedLLaDA)  # integrity seal verified here
    after = held_loss(model, tokenizer, tiny_texts)
    assert after < 0.8 * before, (before, after)
    assert len(res.losses) == 60 and meta["finetune"]["config"]["mixed_precision"] == precision
    assert meta["finetune"]["base_config_sha256"] == hashlib.sha256((base / "config.json").read_bytes()).hexdigest()
    assert "diffusion" in meta  # the base's sections are kept
    if precision == "bf16":  # autocast is on: the same first batch and noise give another loss than in float32
        fp32 = finetune(base, tiny_texts, tmp_path / "fp32", FinetuneConfig(steps=1, batch_size=5, cpu=True))
        assert fp32.losses[0] != res.losses[0] and abs(fp32.losses[0] - res.losses[0]) < 0.05 * fp32.losses[0]
    out = load(res.output_dir).generate(n=2, steps=4, seed=0)
    assert len(out.texts) == 2


def test_lora_trains_only_adapters_and_merges(base, tokenizer, tiny_texts, tmp_path):
    cfg = FinetuneConfig(steps=20, batch_size=5, lr=1e-2, cpu=True, lora=LoraSettings(r=4, alpha=8), save="adapter")
    res = finetune(base, tiny_texts, tmp_path / "adapter", cfg)
    files = {p.name for p in res.output_dir.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", BASE_RECORD} <= files
    from safetensors.torch import load_file

    saved = load_file(str(res.output_dir / "adapter_model.safetensors"))
    assert saved and all("lora_" in k for k in saved)
    trainable = [n for n, p in res.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert any(float(v.abs().max()) > 0 for k, v in saved.items() if "lora_B" in k)  # B starts at 0: it trained
    orig = weights(base)
    wrapped = load_adapter(base, res.output_dir, merge=False)[0]
    for name, value in wrapped.state_dict().items():  # base weights untouched under the adapters
        if "lora_" not in name:
            key = name.removeprefix("base_model.model.").replace(".base_layer", "")
            assert torch.equal(value, orig[key]), name
    merged, tok, _ = load_adapter(base, res.output_dir)
    changed = {k for k, v in merged.state_dict().items() if not torch.equal(v, orig[k])}
    assert changed and all(k.endswith(tuple(f"{t}.weight" for t in TARGETS)) for k in changed), changed
    assert held_loss(merged, tok, tiny_texts) < held_loss(load_pretrained(base, MaskedLLaDA)[0], tok, tiny_texts)
    merged_ckpt = tmp_path / "merged"
    finetune(base, tiny_texts, merged_ckpt, FinetuneConfig(steps=20, batch_size=5, lr=1e-2, cpu=True,
                                                           lora=LoraSettings(r=4, alpha=8)))
    for k, v in weights(merged_ckpt).items():  # save="merged" writes the same weights as adapter + merge
        torch.testing.assert_close(v, merged.state_dict()[k], rtol=1e-5, atol=1e-6)


def test_adapter_on_another_base_is_refused(base, tokenizer, tiny_texts, tmp_path):
    cfg = FinetuneConfig(steps=1, batch_size=2, cpu=True, lora=LoraSettings(r=2), save="adapter")
    adapter = finetune(base, tiny_texts, tmp_path / "adapter", cfg).output_dir
    other = tiny_base(tokenizer, tmp_path / "other", seed=1)
    with pytest.raises(CheckpointError, match="base_config_sha256"):
        load_adapter(other, adapter)
    (adapter / BASE_RECORD).unlink()
    with pytest.raises(CheckpointError, match=BASE_RECORD):
        load_adapter(base, adapter)


def test_bad_settings_and_missing_peft(base, tiny_texts, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="adapter"):
        FinetuneConfig(save="adapter")
    with pytest.raises(ConfigError, match="mixed_precision"):
        FinetuneConfig(mixed_precision="fp8")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="target_modules"):
        finetune(base, tiny_texts, tmp_path / "x", FinetuneConfig(steps=1, cpu=True,
                                                                 lora=LoraSettings(target_modules=["nope"])))
    monkeypatch.setitem(sys.modules, "peft", None)  # import peft → ImportError
    with pytest.raises(ConfigError, match="peft") as e:
        finetune(base, tiny_texts, tmp_path / "y", FinetuneConfig(steps=1, cpu=True, lora=LoraSettings()))
    assert "pip install" in e.value.hint and not (tmp_path / "y").exists()


SCRIPT = """
import hashlib, json, sys, torch
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.training.finetune import FinetuneConfig, finetune
texts = [e.ref for e in read_e2e_csv(sys.argv[2])]
cfg = FinetuneConfig(steps=3, batch_size=2, gradient_accumulation_steps=2, lr=1e-2, cpu=True)
res = finetune(sys.argv[1], texts, sys.argv[3], cfg)
state = res.model.state_dict()
digest = hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in sorted(state))).hexdigest()
rank = torch.distributed.get_rank()
assert torch.distributed.get_world_size() == 2 and torch.distributed.get_backend() == "gloo"
open(f"{sys.argv[3]}.rank{rank}.json", "w").write(json.dumps({"digest": digest, "losses": res.losses}))
"""


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch built without gloo")
def test_two_cpu_processes_agree_on_the_weights(base, tmp_path):
    """2 processes, gloo, gradient accumulation 2: DDP through accelerate keeps both replicas equal."""
    script = tmp_path / "ft.py"
    script.write_text(SCRIPT)
    out = tmp_path / "ddp"
    # torchrun, not `accelerate launch --cpu`: accelerate 1.x starts several CPU processes only through mpirun;
    # the Accelerator inside finetune() finds the torchrun environment and sets up gloo itself
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           str(base), str(TINY_CSV), str(out)]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks: list[dict[str, Any]] = [json.loads(Path(f"{out}.rank{i}.json").read_text()) for i in range(2)]
    assert ranks[0]["digest"] == ranks[1]["digest"]  # DDP kept the replicas equal
    assert ranks[0]["losses"] != ranks[1]["losses"]  # ... while each rank saw its own batches
    state = weights(out)
    digest = hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in sorted(state))).hexdigest()
    assert digest == ranks[0]["digest"]
    assert digest != hashlib.sha256(b"".join(v.numpy().tobytes() for _, v in sorted(weights(base).items()))).hexdigest()


def test_cli_module_runs(base, tmp_path, capsys):
    """ctrlgen/cli/finetune.py (its COMMANDS entry is added in cli/lazy.py): parse, run, print the output."""
    import argparse

    from ctrlgen.cli.finetune import finetune_arguments, run

    parser = argparse.ArgumentParser()
    finetune_arguments(parser)
    out = tmp_path / "cli-adapter"
    args = parser.parse_args([str(base), "--data", str(TINY_CSV), "--output", str(out), "--steps", "2", "--cpu",
                              "--lora", "--lora-r", "2", "--lora-targets", "q_proj,v_proj", "--save", "adapter"])
    assert run(args) == 0 and capsys.readouterr().out.strip() == str(out)
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 2
    assert set(json.loads((out / "adapter_config.json").read_text())["target_modules"]) == {"q_proj", "v_proj"}
    with pytest.raises(ConfigError, match="adapter"):
        run(parser.parse_args([str(base), "--data", str(TINY_CSV), "--output", str(tmp_path / "x"), "--save",
                               "adapter"]))
