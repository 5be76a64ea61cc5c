"""Shared fixtures: a hand-written 10-row E2E-style CSV and tiny models (hidden ≤ 64, ≤ 2 layers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ctrlgen.backends.discrete.diffusion import DiscreteDiffusion, DiscreteDiffusionConfig
from ctrlgen.backends.discrete.generator import DiscreteGenerator
from ctrlgen.backends.discrete.model import ScoreModel, ScoreModelConfig
from ctrlgen.backends.embedding.diffusion import DiffusionConfig, GaussianDiffusion
from ctrlgen.backends.embedding.model import EmbeddingLM, EmbeddingLMConfig
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import Tokenizer

torch.set_num_threads(1)  # tiny models: more threads only add overhead (and contention)
FIXTURES = Path(__file__).parent / "fixtures"
TINY_CSV = FIXTURES / "tiny_e2e.csv"


@pytest.fixture(autouse=True, scope="session")
def _hub_offline():
    """No test may reach the Hugging Face Hub: a repo id resolves through a local cache or fails offline."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield
    if old is None:
        os.environ.pop("HF_HUB_OFFLINE", None)
    else:
        os.environ["HF_HUB_OFFLINE"] = old


@pytest.fixture(autouse=True, scope="session")
def _private_ctrlgen_home(tmp_path_factory: pytest.TempPathFactory):
    """Classifiers a developer trained into ~/.cache/ctrlgen must not change what the tests load (the lookup
    tries the user location first): every test sees an empty CTRLGEN_HOME of its own."""
    old = os.environ.get("CTRLGEN_HOME")
    os.environ["CTRLGEN_HOME"] = str(tmp_path_factory.mktemp("ctrlgen-home"))
    yield
    if old is None:
        os.environ.pop("CTRLGEN_HOME", None)
    else:
        os.environ["CTRLGEN_HOME"] = old


@pytest.fixture(scope="session")
def tiny_texts() -> list[str]:
    return [e.ref for e in read_e2e_csv(TINY_CSV)]


@pytest.fixture(scope="session")
def tokenizer(tiny_texts: list[str]) -> Tokenizer:
    return Tokenizer.train(tiny_texts, min_count=1)


def tiny_config(vocab_size: int, **kw) -> EmbeddingLMConfig:
    base = dict(seq_len=24, embed_dim=8, hidden=32, layers=2, heads=2, dropout=0.0)
    base.update(kw)
    return EmbeddingLMConfig(vocab_size=vocab_size, **base)


@pytest.fixture
def tiny_model(tokenizer: Tokenizer) -> EmbeddingLM:
    torch.manual_seed(0)
    return EmbeddingLM(tiny_config(len(tokenizer))).eval()


@pytest.fixture
def diffusion() -> GaussianDiffusion:
    return GaussianDiffusion.from_config(DiffusionConfig(steps=100))


@pytest.fixture
def model_dir(tiny_model: EmbeddingLM, tokenizer: Tokenizer, tmp_path: Path) -> Path:
    """The tiny model saved as a checkpoint directory (diffusion T = 100)."""
    from ctrlgen.models.pretrained import save_pretrained

    return save_pretrained(tmp_path / "ckpt", tiny_model, tokenizer, {"diffusion": {"steps": 100}})


TINY_TOML = """
output_dir = "{out}"
[data]
train = "{csv}"
min_count = 1
[model]
seq_len = 24
embed_dim = 8
hidden = 32
layers = 2
heads = 2
dropout = 0.0
[diffusion]
steps = 100
[training]
steps = {steps}
batch_size = 4
lr = 1e-3
warmup_steps = 2
checkpoint_every = {every}
log_every = 1
threads = 1
"""


@pytest.fixture
def tiny_toml(tmp_path: Path):
    def make(steps: int = 6, every: int = 3, out: Path | None = None) -> Path:
        p = tmp_path / f"run-{steps}-{every}.toml"
        p.write_text(TINY_TOML.format(out=(out or tmp_path / "run").as_posix(), csv=TINY_CSV.as_posix(),
                                      steps=steps, every=every))
        return p

    return make


@pytest.fixture
def score_model(tokenizer):
    """A tiny SEDD score model (discrete backend) over the tiny vocabulary, seed 0, with a sharpened head (an
    untrained zero head would score every word alike)."""
    torch.manual_seed(0)
    m = ScoreModel(ScoreModelConfig(vocab_size=len(tokenizer), seq_len=24, hidden=32, layers=2, heads=2, dropout=0.0))
    torch.nn.init.normal_(m.head.weight, std=0.5)
    return m.eval()


@pytest.fixture
def sedd_gen(score_model, tokenizer):
    """A ``DiscreteGenerator`` on :func:`score_model` (absorbing graph, default noise)."""
    diffusion = DiscreteDiffusion.from_config(DiscreteDiffusionConfig(), len(tokenizer), tokenizer.vocab.mask_id)
    return DiscreteGenerator(score_model, tokenizer, diffusion)

