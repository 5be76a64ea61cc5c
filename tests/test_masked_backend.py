"""The masked backend end to end on a tiny untrained mask predictor: hard faces, ``Contains`` placement, logit
guidance, bad checkpoints, the CLI flags, and its training loss."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from ctrlgen.api import load
from ctrlgen.backends.masked.diffusion import MaskedDiffusion, MaskedDiffusionConfig
from ctrlgen.backends.masked.generator import MaskedGenerator
from ctrlgen.backends.masked.llada import MaskedLLaDA, MaskedLLaDAConfig
from ctrlgen.backends.masked.sampler import REMASKING, SamplerConfig
from ctrlgen.backends.masked.training import build
from ctrlgen.cli.main import main
from ctrlgen.constraints.base import Constraint, UnsupportedConstraintError
from ctrlgen.constraints.contains import Contains
from ctrlgen.constraints.infill import Prefix
from ctrlgen.constraints.length import Length
from ctrlgen.errors import (
    CheckpointError,
    ConfigError,
    SamplingError,
    UnsupportedOperationError,
)
from ctrlgen.models.pretrained import save_pretrained
from ctrlgen.registry import CHECK, SOFT_EMBEDDING, SOFT_TOKEN
from ctrlgen.text.tokenizer import Tokenizer, split_words

TEMPLATE = "The Mill is a [MASK:2] pub near [MASK] ."


def tiny(tok: Tokenizer, **kw: Any) -> MaskedLLaDA:
    """A 2 × 32 LLaDA network, GQA (2 query heads share 1 KV head), with a sharper output than the init's."""
    torch.manual_seed(0)
    cfg = {"vocab_size": len(tok), "mask_id": tok.vocab.mask_id, "seq_len": 24, "d_model": 32, "n_layers": 2,
           "n_heads": 2, "n_kv_heads": 1, "mlp_hidden_size": 64}
    model = MaskedLLaDA(MaskedLLaDAConfig(**{**cfg, **kw}))
    torch.nn.init.normal_(model.llada.model.transformer.ff_out.weight, std=0.5)
    return model


@pytest.fixture(scope="module")
def ckpt(tokenizer: Tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pretrained(tmp_path_factory.mktemp("masked") / "ckpt", tiny(tokenizer), tokenizer, {"diffusion": {}})


@pytest.fixture(scope="module")
def gen(ckpt: Path) -> MaskedGenerator:
    g = load(ckpt)
    assert isinstance(g, MaskedGenerator)
    return g


@pytest.mark.parametrize("remasking", sorted(REMASKING))
def test_infill_words_hold_at_every_step(gen, tokenizer, remasking):
    sampler = SamplerConfig(remasking=remasking, block_length=8, cfg_scale=1.0)
    out = gen.generate(n=3, steps=6, seed=0, constraints=Length(10) & Prefix("The Mill"),
                       sampler=sampler, return_trajectory=True)
    v = tokenizer.vocab
    for step in out.trajectory:
        assert all(t.startswith("The Mill") for t in step)
    assert (out.tokens[:, 1:3] == torch.tensor(v.ids(["The", "Mill"]))).all()
    assert (out.tokens[:, 11] == v.end_id).all() and (out.tokens[:, 12:] == v.pad_id).all()
    # Length holds on tokens (10 content tokens, then END); words of random text may merge ("costs -" → "costs-")
    assert all(out.report["constraints"]["Prefix('The Mill')"]["satisfied"])
    assert not torch.isin(out.tokens[:, 1:11], torch.tensor([v.pad_id, v.end_id, v.start_id, v.unk_id])).any()
    assert out.report["remasking"] == remasking and out.report["block_length"] == 8


def test_infill_keeps_the_template_and_fills_every_hole(gen, tokenizer):
    out = gen.infill(TEMPLATE, n=3, steps=4, seed=2)
    for text in out.texts:
        words = split_words(text)
        assert words[:4] == ["The", "Mill", "is", "a"] and words[6:8] == ["pub", "near"] and words[9] == "."
    assert "mbr" in out.report and not (out.tokens == tokenizer.vocab.mask_id).any()


def test_contains_is_placed_by_the_model_in_every_sample(gen):
    c = Contains("city centre")
    out = gen.generate(n=4, steps=4, seed=0, constraints=c & Length(8))
    assert all(out.report["constraints"][repr(c)]["satisfied"]), out.texts
    city, centre = gen.tokenizer.vocab.ids(["city", "centre"])
    for row in out.tokens.tolist():  # placed as token ids before the fixed [END] at position 9
        assert any(row[p:p + 2] == [city, centre] for p in range(1, 8)), row


class Pub(Constraint):
    """A token soft face (wants "pub" at token position 3) and a check face."""

    faces: ClassVar[frozenset[str]] = frozenset({SOFT_TOKEN, CHECK})

    def soft(self, tokenizer: Tokenizer, seq_len: int, backend: Any) -> Any:
        word = tokenizer.vocab.id("pub")
        self.sigmas: list[torch.Tensor] = []
        return lambda onehot, sigma: (self.sigmas.append(sigma), -12.0 * onehot[:, 3, word])[1]

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return [w[2:3] == ["pub"] for w in map(split_words, texts)]

    def __repr__(self) -> str:
        return "Pub()"


class Latent(Pub):
    faces: ClassVar[frozenset[str]] = frozenset({SOFT_EMBEDDING, CHECK})


def test_guidance_zero_is_unguided_and_guidance_steers(gen):
    plain = gen.generate(n=8, steps=4, seed=3)
    c = Pub()
    assert torch.equal(gen.generate(n=8, steps=4, seed=3, constraints=c, guidance_scale=0.0).tokens, plain.tokens)
    guided = gen.generate(n=8, steps=4, seed=3, constraints=c, guidance_scale=4.0)
    pub = gen.tokenizer.vocab.id("pub")  # tokens, not words: the untrained model writes PAD mid-text
    assert int((guided.tokens[:, 3] == pub).sum()) == 8 > int((plain.tokens[:, 3] == pub).sum())
    sigmas = torch.cat([s for s in c.sigmas])  # σ̄ = −log(1 − t) falls as positions are revealed
    assert sigmas.max() > 2.0 and sigmas.min() < 1.0


def test_unusable_faces_and_operations_fail_before_sampling(gen):
    with pytest.raises(UnsupportedConstraintError) as info:
        gen.generate(n=1, steps=2, constraints=Latent())
    assert "embedding" in info.value.hint
    with pytest.raises(UnsupportedOperationError) as info:
        gen.edit("The Mill is a pub .")
    assert "'edit'" in info.value.hint
    with pytest.raises(SamplingError, match="does not divide"):
        gen.generate(n=1, steps=4, sampler=SamplerConfig(block_length=5))


def test_save_load_round_trip_is_bit_identical(gen, ckpt, tokenizer, tmp_path):
    again = MaskedGenerator.from_pretrained(save_pretrained(tmp_path / "again", gen.model, tokenizer, {"diffusion": {}}))
    kw = {"n": 3, "steps": 4, "seed": 5, "sampler": SamplerConfig(remasking="margin", cfg_scale=0.5)}
    assert torch.equal(again.generate(**kw).tokens, gen.generate(**kw).tokens)


def test_bad_checkpoints_raise_checkpoint_errors_naming_the_field(tokenizer, tmp_path):
    path = save_pretrained(tmp_path / "bad", tiny(tokenizer), tokenizer)
    cfg = json.loads((path / "config.json").read_text())
    cfg["model"]["mask_id"] = len(tokenizer) + 3
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="mask_id"):
        load(path)
    other = Tokenizer.train(["a b c"], min_count=1)
    with pytest.raises(CheckpointError, match="mask_id"):
        MaskedGenerator(tiny(tokenizer, mask_id=1), tokenizer)  # not the tokenizer's MASK
    assert other.vocab.mask_id != len(tokenizer)
    from ctrlgen.backends.discrete.model import ScoreModel, ScoreModelConfig

    sedd = save_pretrained(tmp_path / "sedd", ScoreModel(ScoreModelConfig(vocab_size=len(tokenizer), seq_len=24,
                                                                            hidden=32, layers=1, heads=2)), tokenizer)
    with pytest.raises(CheckpointError, match="not a masked model"):
        MaskedGenerator.from_pretrained(sedd)


def test_cli_generate_and_infill_take_the_masked_flags(ckpt, capsys):
    argv = ["--backend", "masked", "--model", str(ckpt), "--steps", "4", "--remasking", "entropy",
            "--block-length", "12", "--cfg-scale", "1.5", "--token-temperature", "0.5", "--json"]
    assert main(["generate", "-n", "2", "--constraint", "length=6", *argv]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and all(len(split_words(r["text"])) == 6 for r in rows)
    assert main(["infill", TEMPLATE, "-n", "2", *argv]) == 0
    assert all(json.loads(line)["text"].startswith("The Mill is a") for line in capsys.readouterr().out.splitlines())
    assert main(["generate", "-n", "1", "--backend", "masked", "--model", str(ckpt), "--block-length", "5"]) == 2
    assert "does not divide" in capsys.readouterr().err
    assert main(["generate", "-n", "1", "--backend", "masked", "--model", str(ckpt), "--beam", "2,2"]) == 2


def test_masked_loss_is_the_weighted_masked_cross_entropy(tokenizer):
    """Brute force on one row: loss = Σ_masked CE / t / L with the same draws."""
    model, objective = build(MaskedLLaDAConfig(vocab_size=len(tokenizer), seq_len=12, d_model=16, n_layers=1,
                                               n_heads=2, n_kv_heads=2, mlp_hidden_size=32),
                             MaskedDiffusionConfig(), tokenizer)
    ids = torch.tensor([tokenizer.encode("The Mill is a pub near the river .", 12)])
    out = objective(ids, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    diff = MaskedDiffusion(tokenizer.vocab.mask_id)
    t = diff.sample_t(1, g, ids.device)
    masked = torch.rand(ids.shape, generator=g, dtype=torch.float64) < t[:, None]
    logp = model(ids.masked_fill(masked, tokenizer.vocab.mask_id)).log_softmax(-1)
    ce = -logp.gather(-1, ids[..., None])[..., 0][masked].sum()
    assert masked.any() and torch.allclose(out["loss"], (ce / t / 12).float(), atol=1e-6)
    with pytest.raises(ConfigError, match="mask_id"):
        build(MaskedLLaDAConfig(vocab_size=len(tokenizer), mask_id=0), MaskedDiffusionConfig(), tokenizer)


def test_training_through_the_trainer_lowers_the_loss(tiny_toml, tmp_path):
    from ctrlgen.training.run import build_run, load_run_config

    text = tiny_toml(steps=30, every=30).read_text().replace("output_dir", 'backend = "masked"\noutput_dir', 1)
    text = text.replace("embed_dim = 8\nhidden = 32\nlayers = 2\nheads = 2\ndropout = 0.0\n",
                        "d_model = 32\nn_layers = 2\nn_heads = 2\nn_kv_heads = 1\nmlp_hidden_size = 64\n")
    text = text.replace("[diffusion]\nsteps = 100\n", "[diffusion]\neps = 1e-3\n")
    text = text.replace("lr = 1e-3", "lr = 3e-3\nema_decay = 0.0\nbatch_size = 8", 1).replace("batch_size = 4\n", "")
    cfg = tmp_path / "masked.toml"
    cfg.write_text(text)
    trainer = build_run(load_run_config(cfg))

    def held_loss() -> float:
        with torch.no_grad():
            trainer.objective.eval()
            data = trainer.data.repeat(8, 1)
            return float(trainer.objective(data, torch.Generator().manual_seed(123))["loss"].mean())

    before = held_loss()
    final = trainer.train()
    after = held_loss()
    assert after < 0.8 * before, (before, after)
    print(f"held-out masked loss {before:.3f} -> {after:.3f}")
    g = load(final)
    assert isinstance(g, MaskedGenerator) and len(g.generate(n=2, steps=4).texts) == 2
