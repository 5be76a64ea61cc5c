"""Fine-tuning through accelerate (ctrlgen.training.finetune) on a tiny LLaDA mask predictor: full and LoRA runs,
merged checkpoints and adapters, an adapter refused on another base, bf16 autocast; then the other model types (the
discrete backend's SEDD score model, reference SEDD / MDLM / LLaDA folders on token ids, the embedding model). Several
processes (DDP, FSDP): tests/test_finetune_fsdp.py."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import torch

from ctrlgen.api import load
from ctrlgen.backends.discrete.model import ScoreModel, ScoreModelConfig
from ctrlgen.backends.discrete.pretrained import load_pretrained_score
from ctrlgen.backends.masked.diffusion import MaskedDiffusion
from ctrlgen.backends.masked.llada import MaskedLLaDA, MaskedLLaDAConfig
from ctrlgen.errors import CheckpointError, ConfigError
from ctrlgen.models.llada.model import LLaDAModel
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
from ctrlgen.training.finetune_models import FINETUNE_RECORD, OBJECTIVES, load_base

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
    with pytest.raises(ConfigError, match="process group"):  # FSDP needs a launch (tests/test_finetune_fsdp.py)
        run(parser.parse_args([str(base), "--data", str(TINY_CSV), "--output", str(tmp_path / "x"), "--strategy",
                               "fsdp", "--cpu"]))


# ------------------------------------------------------------------------------------- other model types
PARITY = Path(__file__).parent / "fixtures" / "parity"  # tiny reference SEDD / MDLM directories (random weights)


def token_language(n: int, seed: int, length: int = 12) -> torch.Tensor:
    """``LongTensor[n, length]``: arithmetic progressions mod 40 (start < 8, step 1..3) — structure to learn."""
    g = torch.Generator().manual_seed(seed)
    start, step = torch.randint(0, 8, (n, 1), generator=g), torch.randint(1, 4, (n, 1), generator=g)
    return (start + step * torch.arange(length)) % 40


def objective_loss(model: torch.nn.Module, base: Path, rows: torch.Tensor) -> float:
    """The base's own training objective (finetune_models.OBJECTIVES) around ``model``: 8 fixed noise draws."""
    b = load_base(base)
    objective, g = OBJECTIVES[b.model_type](model, b).eval(), torch.Generator().manual_seed(5)
    with torch.no_grad():
        return float(torch.stack([objective(rows, g)["loss"].mean() for _ in range(8)]).mean())


def test_discrete_score_model_lowers_the_held_out_loss(tokenizer, tiny_texts, tmp_path):
    """e2e-sedd's model type (sedd-score), untrained (zero head): trained on 8 texts, the score-entropy loss falls
    on the 2 others; the checkpoint loads with ctrlgen.load and samples."""
    torch.manual_seed(0)
    model = ScoreModel(ScoreModelConfig(vocab_size=len(tokenizer), seq_len=24, hidden=32, layers=2, heads=2,
                                        dropout=0.0))
    base = save_pretrained(tmp_path / "sedd-score", model, tokenizer, {"diffusion": {}})
    held_out = encode_corpus(tiny_texts[8:], tokenizer, 24)
    before = objective_loss(model, base, held_out)
    res = finetune(base, tiny_texts[:8], tmp_path / "ft", FinetuneConfig(steps=30, batch_size=8, lr=3e-3, cpu=True))
    after = objective_loss(res.model, base, held_out)
    assert after < 0.8 * before, (before, after)
    gen = load(res.output_dir)
    assert torch.equal(gen.model.head.weight, res.model.head.weight)
    assert len(gen.generate(n=2, steps=4, seed=0).texts) == 2


REFERENCE = {  # fixture folder → (model type, reader of the written folder, default LoRA targets)
    "sedd": ("sedd", lambda d: load_pretrained_score(d)[0], ("attn_qkv", "attn_out")),
    "mdlm": ("mdlm", lambda d: load_pretrained_score(d)[0], ("attn_qkv", "attn_out")),
    "llada/gqa": ("llada", LLaDAModel.from_reference, ("q_proj", "k_proj", "v_proj", "attn_out")),
}


@pytest.mark.parametrize("arch", list(REFERENCE))
def test_reference_checkpoint_finetunes_in_its_own_layout(arch, tmp_path):
    """Reference SEDD / MDLM / LLaDA directories, trained on token ids with their backend's loss (discrete /
    masked): the held-out loss falls, the written directory loads with the reference reader; LoRA on the attention
    projections keeps every base weight bit-identical; texts are refused (no ctrlgen tokenizer)."""
    mtype, read, targets = REFERENCE[arch]
    base, train, held_out = PARITY / arch, token_language(64, 0), token_language(16, 1)
    before = objective_loss(load_base(base).model, base, held_out)
    res = finetune(base, train, tmp_path / "full", FinetuneConfig(steps=30, batch_size=8, lr=3e-3, cpu=True))
    assert objective_loss(res.model, base, held_out) < 0.9 * before
    trained = res.model.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in read(res.output_dir).state_dict().items())
    assert json.loads((res.output_dir / FINETUNE_RECORD).read_text())["model_type"] == mtype

    cfg = FinetuneConfig(steps=30, batch_size=8, lr=1e-2, cpu=True, lora=LoraSettings(r=4), save="adapter")
    adapter = finetune(base, train, tmp_path / "lora", cfg).output_dir
    orig = load_base(base).model.state_dict()
    for name, value in load_adapter(base, adapter, merge=False)[0].state_dict().items():
        if "lora_" not in name:
            assert torch.equal(value, orig[name.removeprefix("base_model.model.").replace(".base_layer", "")]), name
    merged = load_adapter(base, adapter)[0]
    changed = {k for k, v in merged.state_dict().items() if not torch.equal(v, orig[k])}
    assert changed and all(k.endswith(tuple(f"{t}.weight" for t in targets)) for k in changed), changed
    assert objective_loss(merged, base, held_out) < before
    with pytest.raises(ConfigError, match="token ids"):
        finetune(base, ["a text"], tmp_path / "x", FinetuneConfig(steps=1, cpu=True))
    with pytest.raises(ConfigError, match="token ids"):
        finetune(base, torch.full((2, 12), 99), tmp_path / "x", FinetuneConfig(steps=1, cpu=True))


def test_embedding_model_finetunes(model_dir, tokenizer, tiny_texts, tmp_path):
    """The embedding backend's model (embedding-lm) on its own objective: the loss falls; the checkpoint loads."""
    rows = encode_corpus(tiny_texts, tokenizer, 24)
    before = objective_loss(load_base(model_dir).model, model_dir, rows)
    res = finetune(model_dir, tiny_texts, tmp_path / "ft", FinetuneConfig(steps=30, batch_size=5, lr=3e-3, cpu=True))
    assert objective_loss(res.model, model_dir, rows) < 0.9 * before
    assert len(load(res.output_dir).generate(n=2, steps=4, seed=0).texts) == 2
