"""POS on the discrete backend (issue 14, item 3): the token-space tagger ``pos-token.v1`` steers SEDD sampling
through the shared rate-guidance path (``ClassifierSoft`` → ``RateGuidance``), and checkpointed classifier
training resumes where it stopped. Tiny untrained tagger on the tiny SEDD fixture (``conftest.sedd_gen``)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

import ctrlgen.training.classifiers as training
from classifiers.pos import MARKERS
from classifiers.pos_token import POSTokenClassifier
from ctrlgen.backends.discrete.guidance import RateGuidance
from ctrlgen.constraints.classifier import ClassifierSoft
from ctrlgen.constraints.fingerprint import ModelContext
from ctrlgen.constraints.plugin import ClassifierData
from ctrlgen.constraints.pos import POS
from ctrlgen.errors import CheckpointError
from ctrlgen.oracles.pos import POS_MODELS
from ctrlgen.registry import SOFT_TOKEN

HAVE_TAGGER = any(importlib.util.find_spec(m) is not None for m in POS_MODELS)

TAGS = ("NOUN", "NOUN", "NOUN", "NOUN")


def _tagger(vocab_size: int, seq_len: int = 24, seed: int = 0) -> POSTokenClassifier:
    torch.manual_seed(seed)
    clf = POSTokenClassifier(vocab_size=vocab_size, seq_len=seq_len, tags=[*MARKERS, *POS.TAGS], embed_dim=8,
                             hidden=16, layers=1, heads=2, dropout=0.0)
    return clf.eval().requires_grad_(False)


def _clean_log_prob(clf: POSTokenClassifier, tokens: torch.Tensor, tags: tuple[str, ...]) -> torch.Tensor:
    """log p(tags | the finished samples, σ̄ = 0) per sample: ``Tensor[n]``."""
    onehot = torch.nn.functional.one_hot(tokens, clf.hparams["vocab_size"]).float()
    target = clf.encode_target(list(tags), None, tokens.shape[1])
    return clf.log_prob(onehot, torch.zeros(len(tokens)), target)


def test_pos_has_a_token_face_and_fast_path(sedd_gen, tokenizer) -> None:
    clf = _tagger(len(tokenizer))
    pos = POS(TAGS, classifier=clf)
    assert SOFT_TOKEN in pos.faces
    prepared = sedd_gen.prepare(pos)
    soft = prepared.soft_terms[0].soft
    assert isinstance(soft, ClassifierSoft) and soft.embedding is not None  # the shared fast path
    x = torch.randint(0, len(tokenizer), (3, 24))
    sigma = torch.tensor([0.0, 0.7, 3.0])
    onehot = torch.nn.functional.one_hot(x, len(tokenizer)).float()
    torch.testing.assert_close(soft(onehot, sigma), soft.embedded(soft.embedding()[x], sigma))


def test_default_pos_needs_a_saved_tagger(sedd_gen) -> None:
    with pytest.raises(CheckpointError, match="pos-token.v1"):
        sedd_gen.prepare(POS(TAGS))


def test_guidance_moves_samples_toward_the_tags(sedd_gen, tokenizer) -> None:
    """The samples' tags under the tagger itself move toward the target as γ grows (and γ = 0 is unguided)."""
    clf = _tagger(len(tokenizer))
    scores = {}
    for scale in (0.0, 4.0):
        out = sedd_gen.generate(n=16, steps=12, seed=0, constraints=POS(TAGS, classifier=clf),
                                guidance_scale=scale, guidance_shortlist=0)
        scores[scale] = _clean_log_prob(clf, out.tokens, TAGS)
    unguided = sedd_gen.generate(n=16, steps=12, seed=0)
    assert torch.equal(_clean_log_prob(clf, unguided.tokens, TAGS), scores[0.0])
    assert scores[4.0].mean() > scores[0.0].mean() + 1.0, scores


def test_checkpointed_training_resumes_to_the_same_weights(sedd_gen, tokenizer, tmp_path, monkeypatch) -> None:
    ctx = ModelContext.of(sedd_gen.model, sedd_gen.diffusion, None, tokenizer)
    g = torch.Generator().manual_seed(0)
    data = ClassifierData(torch.randint(0, len(tokenizer), (12, 24), generator=g),
                          torch.randint(0, len(MARKERS) + len(POS.TAGS), (12, 24), generator=g))
    kw = {"steps": 4, "batch_size": 4, "warmup": 1, "seed": 0, "progress": False}
    straight = _tagger(len(tokenizer), seed=1)
    training.fit_classifier(straight, ctx, data, **kw)

    ckpt, save = tmp_path / "state.safetensors", training._save_checkpoint

    def stop_after_two(path, run, step, *args):  # the process dies right after the step-2 checkpoint
        save(path, run, step, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "_save_checkpoint", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        training.fit_classifier(_tagger(len(tokenizer), seed=1), ctx, data, checkpoint=ckpt, checkpoint_every=2, **kw)
    monkeypatch.setattr(training, "_save_checkpoint", save)
    resumed = _tagger(len(tokenizer), seed=2)  # other initial weights: they must come from the checkpoint
    training.fit_classifier(resumed, ctx, data, checkpoint=ckpt, checkpoint_every=2, **kw)
    assert training.read_classifier_checkpoint(ckpt)["step"] == 4
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


@pytest.mark.skipif(not HAVE_TAGGER, reason="no spaCy English model installed (the silver tags)")
def test_train_classifier_pos_for_a_discrete_model(score_model, tokenizer, tmp_path) -> None:
    """``train-classifier pos`` on a discrete checkpoint trains ``pos-token.v1`` beside it, where POS finds it."""
    from conftest import TINY_CSV

    import ctrlgen
    from ctrlgen.cli.train_classifier import train
    from ctrlgen.models.pretrained import save_pretrained

    path = save_pretrained(tmp_path / "sedd", score_model, tokenizer, {"diffusion": {"graph": "absorbing"}})
    out = train("pos", str(path), steps=2, batch_size=4, data=str(TINY_CSV), device="cpu")
    assert out == path / "classifiers" / "pos"
    assert '"classifier": "pos-token.v1"' in (out / "config.json").read_text()
    gen = ctrlgen.load(path)
    prepared = gen.prepare(POS(("DET", "NOUN", "PUNCT")))
    assert type(prepared.soft_terms[0].soft.clf).__name__ == "POSTokenClassifier"


def test_demote_outside_only_lowers_rates_off_the_shortlist(sedd_gen, tokenizer) -> None:
    """``demote_outside``: the shortlist keeps its exact ratios, every other jump of a masked position only loses."""
    clf = _tagger(len(tokenizer))
    soft = sedd_gen.prepare(POS(TAGS, classifier=clf)).soft_terms[0].soft
    mask = tokenizer.vocab.mask_id
    x = torch.full((2, 24), mask)
    x[:, 0] = tokenizer.vocab.start_id
    sigma = torch.tensor([1.0, 2.0])
    scores = sedd_gen.model(x, sigma)
    ratios = {}
    for demote in (False, True):
        g = RateGuidance(sedd_gen.model, [(1.0, soft)], 1.0, shortlist=2, mask_id=mask, demote_outside=demote)
        ratios[demote] = g.exact_ratios(x, sigma, scores, g.log_ratio(x, sigma))
    free, kept = ratios[False][:, 1:], ratios[True][:, 1:]
    assert (free > 0).any()  # first order promotes some jumps: demoting them is a change
    changed = kept != free
    assert torch.equal(kept[changed], torch.zeros_like(kept[changed]))
    assert torch.equal(kept[~changed], free[~changed])
    assert int(((kept > 0) & changed).sum()) == 0 and int((kept > 0).sum(-1).max()) <= 2  # only the shortlist gains


def test_guidance_demote_is_a_checked_generate_option(sedd_gen) -> None:
    """``--guidance-demote`` becomes ``guidance_demote=True``; a non-bool is refused before sampling."""
    import argparse

    from ctrlgen.backends.discrete.flags import FLAGS
    from ctrlgen.errors import SamplingError
    p = argparse.ArgumentParser()
    FLAGS.add_arguments(p)
    assert FLAGS.to_kwargs(p.parse_args(["--guidance-demote"]))["guidance_demote"] is True
    assert "guidance_demote" not in FLAGS.to_kwargs(p.parse_args([]))
    with pytest.raises(SamplingError, match="guidance_demote"):
        sedd_gen.generate(n=1, steps=2, guidance_demote="yes")


class _TouchOnLoad:
    """A crafted pickle: unpickling it calls ``Path.touch(marker)``."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return type(self.marker).touch, (self.marker,)


@pytest.mark.parametrize("name", ["state.pt", "state.safetensors", "state"])
def test_a_crafted_pickle_as_classifier_checkpoint_is_refused_never_loaded(sedd_gen, tokenizer, tmp_path, name):
    ctx = ModelContext.of(sedd_gen.model, sedd_gen.diffusion, None, tokenizer)
    g = torch.Generator().manual_seed(0)
    data = ClassifierData(torch.randint(0, len(tokenizer), (12, 24), generator=g),
                          torch.randint(0, len(MARKERS) + len(POS.TAGS), (12, 24), generator=g))
    marker, ckpt = tmp_path / "pwned", tmp_path / name
    torch.save({"step": 2, "payload": _TouchOnLoad(marker)}, ckpt)  # what the old trainer wrote, with a payload
    with pytest.raises(CheckpointError, match="pickle|not a ctrlgen"):
        training.fit_classifier(_tagger(len(tokenizer), seed=1), ctx, data, steps=4, batch_size=4, warmup=1,
                                progress=False, checkpoint=ckpt, checkpoint_every=2)
    assert not marker.exists()
