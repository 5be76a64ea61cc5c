"""Fine-tuning with several CPU processes (gloo), one ``torch.distributed.run`` launch for the whole module: DDP
through accelerate, FSDP (torch's FSDP2 ``fully_shard``, ctrlgen.training.finetune_fsdp) and FSDP with LoRA, the
same tiny LLaDA base, the same batches and noise. The launch is the cost (~30 s of imports per process here)."""

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
from ctrlgen.errors import ConfigError
from ctrlgen.models.pretrained import load_pretrained, save_pretrained
from ctrlgen.text.dataset import encode_corpus
from ctrlgen.text.tokenizer import Tokenizer
from ctrlgen.training.finetune import FinetuneConfig, finetune

TINY_CSV = Path(__file__).parent / "fixtures" / "tiny_e2e.csv"
TARGETS = ("q_proj", "k_proj", "v_proj", "attn_out")

SCRIPT = """
import hashlib, json, sys, torch
from ctrlgen.text.e2e import read_e2e_csv
import ctrlgen.training.finetune as ft
from ctrlgen.training.finetune import FinetuneConfig, LoraSettings, finetune
from torch.distributed.tensor import DTensor
base, csv, out = sys.argv[1:4]
shards = []
def spy(module, device):  # what each rank holds after sharding: its slice of every parameter
    module = shard(module, device)
    shards.append([(p.to_local().numel(), p.numel()) if isinstance(p, DTensor) else None for p in module.parameters()])
    return module
shard, ft.shard = ft.shard, spy
texts = [e.ref for e in read_e2e_csv(csv)]
runs = {"ddp": dict(strategy="ddp"), "fsdp": dict(strategy="fsdp"),
        "fsdp-lora": dict(strategy="fsdp", lora=LoraSettings(r=2), lr=3e-2)}
result = {}
for name, kw in runs.items():
    cfg = FinetuneConfig(**{"steps": 6, "batch_size": 2, "gradient_accumulation_steps": 2, "lr": 1e-2, "cpu": True,
                            **kw})
    res = finetune(base, texts, f"{out}/{name}", cfg)
    state = res.model.state_dict()
    result[name] = {"digest": hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in sorted(state))).hexdigest(),
                    "losses": res.losses, "shards": shards.pop() if "fsdp" in name else None}
assert torch.distributed.get_world_size() == 2 and torch.distributed.get_backend() == "gloo"
open(f"{out}/rank{torch.distributed.get_rank()}.json", "w").write(json.dumps(result))
"""


def digest(state: dict[str, torch.Tensor]) -> str:
    return hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in sorted(state))).hexdigest()


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_pretrained(path, MaskedLLaDA)[0].state_dict()


def held_loss(model: torch.nn.Module, tok: Tokenizer, texts: list[str]) -> float:
    """The masked objective on every text, 8 fixed noise draws (the same draws for every model)."""
    data = encode_corpus(texts, tok, 24)
    diff, g = MaskedDiffusion(tok.vocab.mask_id), torch.Generator().manual_seed(123)
    with torch.no_grad():
        return float(torch.stack([diff.training_losses(model.eval(), data, g)["loss"].mean() for _ in range(8)]).mean())


@pytest.fixture(scope="module")
def base(tokenizer: Tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    cfg = MaskedLLaDAConfig(vocab_size=len(tokenizer), mask_id=tokenizer.vocab.mask_id, seq_len=24, d_model=32,
                            n_layers=2, n_heads=2, n_kv_heads=1, mlp_hidden_size=64)
    return save_pretrained(tmp_path_factory.mktemp("fsdp") / "base", MaskedLLaDA(cfg), tokenizer, {"diffusion": {}})


@pytest.fixture(scope="module")
def launch(base: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """``(output folder, [rank 0 result, rank 1 result])`` of the one 2-process launch."""
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch built without gloo")
    tmp = tmp_path_factory.mktemp("launch")
    (tmp / "ft.py").write_text(SCRIPT)
    out = tmp / "out"
    out.mkdir()
    # torchrun, not `accelerate launch --cpu` (one process: accelerate starts several CPU processes only through
    # mpirun); the Accelerator inside finetune() finds the torchrun environment and sets up gloo itself
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(tmp / "ft.py"),
           str(base), str(TINY_CSV), str(out)]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=400, env=env, cwd=tmp)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, [json.loads((out / f"rank{i}.json").read_text()) for i in range(2)]


def test_ddp_replicas_agree(launch, base):
    """DDP through accelerate, gradient accumulation 2: both replicas end equal, each rank saw its own batches."""
    out, ranks = launch
    assert ranks[0]["ddp"]["digest"] == ranks[1]["ddp"]["digest"]
    assert ranks[0]["ddp"]["losses"] != ranks[1]["ddp"]["losses"]
    assert digest(weights(out / "ddp")) == ranks[0]["ddp"]["digest"] != digest(weights(base))


def test_fsdp_trains_what_ddp_trains_and_the_checkpoint_loads(launch, base, tokenizer, tiny_texts):
    """FSDP shards the model but averages the same gradients: both ranks gather the same full state, the losses
    are DDP's, the weights DDP's up to float rounding; the written checkpoint is the gathered state and loads."""
    out, ranks = launch
    assert ranks[0]["fsdp"]["digest"] == ranks[1]["fsdp"]["digest"]
    shards = [r["fsdp"]["shards"] for r in ranks]  # every parameter split in two: the ranks' slices sum to it
    assert all(s is not None for s in shards[0] + shards[1]), "a parameter was not sharded"
    assert all(a[0] + b[0] == a[1] == b[1] for a, b in zip(*shards, strict=True))
    assert all(sum(p[0] for p in s) < 0.6 * sum(p[1] for p in s) for s in shards)  # each rank holds about half
    for r in ranks:
        torch.testing.assert_close(r["fsdp"]["losses"], r["ddp"]["losses"], rtol=1e-4, atol=1e-5)
    fsdp, ddp, before = weights(out / "fsdp"), weights(out / "ddp"), weights(base)
    assert digest(fsdp) == ranks[0]["fsdp"]["digest"]
    for k, v in fsdp.items():
        torch.testing.assert_close(v, ddp[k], rtol=1e-4, atol=1e-5)
    assert any(not torch.equal(v, before[k]) for k, v in fsdp.items())
    gen = load(out / "fsdp")  # ctrlgen.load: sealed checkpoint, same weights
    assert digest({k: v.float() for k, v in gen.model.state_dict().items()}) == ranks[0]["fsdp"]["digest"]
    assert held_loss(gen.model, tokenizer, tiny_texts) < 0.95 * held_loss(load_pretrained(base, MaskedLLaDA)[0],
                                                                          tokenizer, tiny_texts)
    assert len(gen.generate(n=2, steps=4, seed=0).texts) == 2


def test_fsdp_with_lora_trains_only_the_adapters(launch, base):
    """FSDP units holding frozen base weights and trainable adapters: the merged result changes exactly the target
    projections, and both ranks agree."""
    out, ranks = launch
    assert ranks[0]["fsdp-lora"]["digest"] == ranks[1]["fsdp-lora"]["digest"]
    merged, before = weights(out / "fsdp-lora"), weights(base)
    assert digest(merged) == ranks[0]["fsdp-lora"]["digest"]
    changed = {k for k, v in merged.items() if not torch.equal(v, before[k])}
    assert changed and all(k.endswith(tuple(f"{t}.weight" for t in TARGETS)) for k in changed), changed


def test_fsdp_in_one_process_is_a_typed_error(base, tiny_texts, tmp_path):
    with pytest.raises(ConfigError, match="process group") as e:
        finetune(base, tiny_texts, tmp_path / "x", FinetuneConfig(steps=1, cpu=True, strategy="fsdp"))
    assert "torch.distributed.run" in e.value.hint and not (tmp_path / "x").exists()
    with pytest.raises(ConfigError, match="strategy"):
        FinetuneConfig(strategy="zero3")  # type: ignore[arg-type]
