"""Checkpoints in the Hugging Face layout (issue 15 item 3): hub mixins, the HF cache, save/push, bad input.

Hermetic: HF_HUB_OFFLINE=1 and a private HF_HUB_CACHE for every test, and any socket connection fails the test."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import torch
from huggingface_hub import PyTorchModelHubMixin

import ctrlgen
from ctrlgen.backends.discrete.diffusion import DiscreteDiffusionConfig
from ctrlgen.backends.discrete.model import ScoreModel, ScoreModelConfig
from ctrlgen.backends.edit.joint import EditModel, EditModelConfig
from ctrlgen.backends.edit.models import (
    EditGenerator,
    EditGeneratorConfig,
    EditTagger,
    EditTaggerConfig,
)
from ctrlgen.backends.embedding.model import EmbeddingLM
from ctrlgen.errors import CheckpointError, HubOfflineError
from ctrlgen.models.ar_lm import ARLM, ARLMConfig
from ctrlgen.models.integrity import seal_directory
from ctrlgen.models.pretrained import save_pretrained
from ctrlgen.text.tokenizer import Tokenizer
from tests.conftest import tiny_config

SHA = "0123456789abcdef0123456789abcdef01234567"
SIZES = {"seq_len": 20, "hidden": 32, "layers": 2, "heads": 2, "dropout": 0.0}


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HF_HUB_OFFLINE=1, an empty private HF cache, and no socket may connect."""
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))

    def refuse(*args, **kwargs):
        raise AssertionError(f"a test tried to reach the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return cache


def fake_cache(cache: Path, repo_id: str, checkpoint: Path) -> Path:
    """Put ``checkpoint``'s files into the HF cache layout: ``models--owner--name/snapshots/<sha>/`` + ``refs/main``."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / SHA
    shutil.copytree(checkpoint, snap)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(SHA)
    return snap


def weights_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ------------------------------------------------------------------------------------------ HF cache
def test_load_repo_id_from_the_offline_cache(model_dir, offline):
    fake_cache(offline, "owner/tiny-e2e", model_dir)
    gen = ctrlgen.load("owner/tiny-e2e")
    assert gen.path is not None and SHA in str(gen.path)
    ref = ctrlgen.load(model_dir)
    assert weights_equal(gen.model, ref.model)
    assert gen.generate(n=2, steps=5, seed=3).texts == ref.generate(n=2, steps=5, seed=3).texts
    net = EmbeddingLM.from_pretrained("owner/tiny-e2e")  # the network class alone, through the mixin
    assert weights_equal(net, ref.model) and not net.training


def test_repo_not_in_the_cache_says_how_to_get_it(offline):
    with pytest.raises(CheckpointError, match="not cached") as e:
        ctrlgen.load("owner/absent")
    assert "HF_HUB_OFFLINE" in e.value.message and "owner/absent" in e.value.message
    assert "directory" in (e.value.hint or "") and "download" in (e.value.hint or "")
    with pytest.raises(CheckpointError, match="not cached"):
        EmbeddingLM.from_pretrained("owner/absent")


def test_bundled_name_and_directory_come_before_the_hub(model_dir, offline, monkeypatch):
    assert ctrlgen.load("e2e").path.name == "e2e"  # bundled, never looked up in the cache
    monkeypatch.chdir(model_dir.parent)
    (model_dir.parent / "owner").mkdir()
    shutil.copytree(model_dir, model_dir.parent / "owner" / "local")
    assert ctrlgen.load("owner/local").path == Path("owner/local")  # an existing directory wins over a repo id


# ------------------------------------------------------------------------------------------ hub mixins
def _networks(vocab: int):
    torch.manual_seed(0)
    return [EmbeddingLM(tiny_config(vocab)), ScoreModel(ScoreModelConfig(vocab_size=vocab, **SIZES)),
            ARLM(ARLMConfig(vocab_size=vocab, **SIZES)), EditTagger(EditTaggerConfig(vocab_size=vocab, **SIZES)),
            EditGenerator(EditGeneratorConfig(vocab_size=vocab, **SIZES))]


def test_every_network_is_a_hub_mixin_and_round_trips(tokenizer, tmp_path):
    for net in _networks(len(tokenizer)):
        assert isinstance(net, PyTorchModelHubMixin), type(net).__name__
        with torch.no_grad():
            next(net.parameters()).add_(0.25)  # differs from a fresh init of the same seed
        out = net.save_pretrained(tmp_path / net.model_type, tokenizer=tokenizer, extra={"data": {"rows": 3}})
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in out.iterdir()}
        cfg = json.loads((out / "config.json").read_text())
        assert cfg["model_type"] == net.model_type and "integrity" in cfg and cfg["data"] == {"rows": 3}
        back = type(net).from_pretrained(out)
        assert weights_equal(net, back), net.model_type
        assert back.hub_extra == {"data": {"rows": 3}} and len(back.hub_tokenizer) == len(tokenizer)
        again = back.save_pretrained(tmp_path / f"{net.model_type}-2")  # tokenizer and sections kept
        assert (again / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()


def test_network_without_tokenizer_cannot_save(tokenizer, tmp_path):
    with pytest.raises(CheckpointError, match="tokenizer"):
        EmbeddingLM(tiny_config(len(tokenizer))).save_pretrained(tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_push_to_hub_offline_is_a_typed_error(tokenizer, model_dir, tmp_path):
    net = EmbeddingLM.from_pretrained(model_dir)
    with pytest.raises(HubOfflineError, match="HF_HUB_OFFLINE"):
        net.push_to_hub("owner/never")
    with pytest.raises(HubOfflineError):
        net.save_pretrained(tmp_path / "p", push_to_hub=True, repo_id="owner/never")
    with pytest.raises(HubOfflineError, match="owner/never"):
        ctrlgen.load(model_dir).push_to_hub("owner/never")


# ------------------------------------------------------------------------------------------ generators
@pytest.fixture
def edit_parts(tokenizer, tmp_path):
    torch.manual_seed(1)
    draft = save_pretrained(tmp_path / "draft-src", ARLM(ARLMConfig(vocab_size=len(tokenizer), **SIZES)).eval(),
                            tokenizer)
    model = EditModel(EditModelConfig(vocab_size=len(tokenizer), **SIZES))
    return save_pretrained(tmp_path / "edit", model, tokenizer, {"diffusion": {"steps": 3},
                                                                 "bootstrap": {"draft_model": str(draft)}})


@pytest.fixture
def sedd_dir(tokenizer, tmp_path):
    torch.manual_seed(0)
    m = ScoreModel(ScoreModelConfig(vocab_size=len(tokenizer), seq_len=24, hidden=32, layers=2, heads=2, dropout=0))
    torch.nn.init.normal_(m.head.weight, std=0.5)
    return save_pretrained(tmp_path / "sedd", m, tokenizer, {"diffusion": {"graph": "absorbing"}})


@pytest.mark.parametrize("which", ["embedding", "discrete", "edit"])
def test_generator_save_load_is_bit_identical(which, model_dir, sedd_dir, edit_parts, tmp_path):
    src = {"embedding": model_dir, "discrete": sedd_dir, "edit": edit_parts}[which]
    kw = {"embedding": {"n": 2, "steps": 5}, "discrete": {"n": 2, "steps": 5}, "edit": {"n": 2, "steps": 2, "drafts": 2}}
    gen = ctrlgen.load(src)
    if which == "embedding":  # a classifier beside the model travels with it
        (src / "classifiers" / "mine").mkdir(parents=True)
        (src / "classifiers" / "mine" / "config.json").write_text('{"classifier": "mine"}')
    out = gen.save_pretrained(tmp_path / "saved")
    back = ctrlgen.load(out)
    assert type(back) is type(gen) and weights_equal(gen.model, back.model)
    assert back.generate(seed=4, **kw[which]).texts == gen.generate(seed=4, **kw[which]).texts
    cfg, src_cfg = (json.loads((d / "config.json").read_text()) for d in (out, src))
    assert {k: v for k, v in cfg.items() if k not in ("integrity", "bootstrap")} == \
        {k: v for k, v in src_cfg.items() if k not in ("integrity", "bootstrap")}
    if which == "embedding":
        assert (out / "classifiers" / "mine" / "config.json").is_file()
    if which == "edit":  # the draft LM is saved inside, and the copy reads it from there
        assert cfg["bootstrap"]["draft_model"] == "draft" and (out / "draft" / "model.safetensors").is_file()
        assert Path(back.draft_model) == out / "draft" and weights_equal(back.draft(), gen.draft())


def test_generator_built_in_memory_needs_its_sections(tokenizer, tmp_path, diffusion):
    from ctrlgen.backends.embedding.generator import EmbeddingGenerator

    gen = EmbeddingGenerator(EmbeddingLM(tiny_config(len(tokenizer))), tokenizer, diffusion)
    with pytest.raises(CheckpointError, match="sections"):
        gen.save_pretrained(tmp_path / "x")


def test_failed_generator_save_keeps_the_old_checkpoint(model_dir, tmp_path, monkeypatch):
    gen = ctrlgen.load(model_dir)
    target = gen.save_pretrained(tmp_path / "kept")
    before = (target / "config.json").read_bytes()

    def boom(directory):
        raise OSError("disk full")

    monkeypatch.setattr(gen, "write_companions", boom)
    with pytest.raises(OSError):
        gen.save_pretrained(target)
    assert (target / "config.json").read_bytes() == before


# ------------------------------------------------------------------------------------------ bad input
def test_directory_that_is_no_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="neither a ctrlgen nor a Hugging Face checkpoint") as e:
        ctrlgen.load(tmp_path)
    assert "config.json" in e.value.message


def test_foreign_hugging_face_architecture_is_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}))
    with pytest.raises(CheckpointError, match="GPT2LMHeadModel") as e:
        ctrlgen.load(tmp_path)
    assert "not support" in e.value.message and "config.json" in e.value.message
    assert all(t in e.value.hint for t in ("embedding-lm", "sedd-score", "edit-diffuser", "ar-lm"))


def _rewrite(directory: Path, fn) -> None:
    cfg = json.loads((directory / "config.json").read_text())
    fn(cfg)
    (directory / "config.json").write_text(json.dumps(cfg))
    seal_directory(directory)  # sealed anew: the field check itself must refuse it, not the digests


def test_config_with_unknown_field(model_dir):
    _rewrite(model_dir, lambda c: c["model"].update(colour="blue"))
    with pytest.raises(CheckpointError, match=r"model\.colour") as e:
        ctrlgen.load(model_dir)
    assert "config.json" in e.value.message


def test_config_with_missing_field(model_dir):
    _rewrite(model_dir, lambda c: c["model"].pop("vocab_size"))
    with pytest.raises(CheckpointError, match="vocab_size") as e:
        ctrlgen.load(model_dir)
    assert "config.json" in e.value.message
    _rewrite(model_dir, lambda c: c.pop("model"))
    with pytest.raises(CheckpointError, match="'model'"):
        ctrlgen.load(model_dir)


def test_tokenizer_size_must_match_vocab_size(model_dir, tiny_texts):
    small = Tokenizer.train(tiny_texts[:2], min_count=1)
    assert len(small) != json.loads((model_dir / "config.json").read_text())["model"]["vocab_size"]
    small.save(model_dir)
    seal_directory(model_dir)
    with pytest.raises(CheckpointError, match="tokenizer.json") as e:
        ctrlgen.load(model_dir)
    assert "model.vocab_size" in e.value.message and str(len(small)) in e.value.message


def test_sedd_sections_survive(sedd_dir, tmp_path):
    gen = ctrlgen.load(sedd_dir)
    out = gen.save_pretrained(tmp_path / "s")
    assert json.loads((out / "config.json").read_text())["diffusion"] == {"graph": "absorbing"}
    assert ctrlgen.load(out).diffusion.config == DiscreteDiffusionConfig(graph="absorbing")


def test_unreachable_hub_falls_back_to_the_cache(model_dir, offline, monkeypatch):
    """Without HF_HUB_OFFLINE but with no network (every DNS lookup and connection fails, so nothing leaves the
    machine), a cached repo still loads and an uncached one is the 'not cached' error."""
    monkeypatch.delenv("HF_HUB_OFFLINE")

    def unreachable(*args, **kwargs):
        raise OSError(101, "network is unreachable (test)")

    monkeypatch.setattr(socket, "getaddrinfo", unreachable)
    monkeypatch.setattr(socket, "create_connection", unreachable)
    fake_cache(offline, "owner/tiny-e2e", model_dir)
    assert weights_equal(ctrlgen.load("owner/tiny-e2e").model, ctrlgen.load(model_dir).model)
    with pytest.raises(CheckpointError, match="not cached") as e:
        ctrlgen.load("owner/absent")
    assert "cannot be reached" in e.value.message
