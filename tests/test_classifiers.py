"""Plug-in classifiers: registry, save/load with the model fingerprint, guidance through a classifier,
classifier-backed constraints (semantic, POS, syntax) and their bad inputs, CLI specs. Tiny models only."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import tiny_config
from torch import nn

import ctrlgen
from ctrlgen import (
    CLASSIFIERS,
    POS,
    CheckpointError,
    Classifier,
    ClassifierData,
    ConstraintError,
    GuidanceConfig,
    ModelContext,
    ModelFingerprint,
    NoiseAwareClassifier,
    SemanticField,
    SyntaxSpans,
    SyntaxTree,
    fit_classifier,
    load_classifier,
    register_classifier,
)
from ctrlgen.backends.embedding.diffusion import DiffusionConfig, GaussianDiffusion
from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.backends.embedding.model import EmbeddingLM
from ctrlgen.constraints.composition import prepare
from ctrlgen.constraints.specs import parse_constraint
from ctrlgen.registry import RegistryError


@register_classifier("test-toy.v1", overwrite=True)
class ToyClassifier(NoiseAwareClassifier):
    """log p(label | x_t, t): mean-pooled latents and the step through a small MLP; target = label id."""

    space = "embedding"

    def __init__(self, *, embed_dim: int, labels: int = 2, hidden: int = 16) -> None:
        super().__init__(embed_dim=embed_dim, labels=labels, hidden=hidden)
        self.mlp = nn.Sequential(nn.Linear(embed_dim + 1, hidden), nn.Tanh(), nn.Linear(hidden, labels))

    def log_prob(self, x, t, target):
        feats = torch.cat([x.mean(1), t.float()[:, None] / 100], -1)
        return self.mlp(feats).log_softmax(-1).gather(1, target.expand(x.shape[0])[:, None])[:, 0]

    def encode_target(self, target, tokenizer, seq_len):
        if target not in range(self.hparams["labels"]):
            raise ConstraintError(f"label {target!r} out of range", "0 or 1")
        return torch.tensor([target])


@pytest.fixture
def gen(tiny_model, tokenizer, diffusion, model_dir):
    return EmbeddingGenerator(tiny_model, tokenizer, diffusion, model_dir)


@pytest.fixture
def toy(tiny_model, diffusion):
    torch.manual_seed(0)
    clf = ToyClassifier(embed_dim=tiny_model.config.embed_dim).eval()
    clf.fingerprint = ModelFingerprint.of(tiny_model, diffusion)
    return clf


# ------------------------------------------------------------------------------------------ registry
def test_registry_finds_user_class_and_lists_names():
    assert CLASSIFIERS.get("test-toy.v1") is ToyClassifier and ToyClassifier.classifier_name == "test-toy.v1"
    with pytest.raises(RegistryError) as e:
        Classifier("test-tyo.v1", 1)
    assert "test-toy.v1" in e.value.hint and "did you mean" in e.value.hint


def test_builtins_come_from_entry_points():
    pytest.importorskip("classifiers")
    assert {"semantic.v1", "pos.v1", "syntax.v1"} <= set(CLASSIFIERS)
    assert CLASSIFIERS.get("pos.v1").__module__ == "classifiers.pos"


def test_register_rejects_non_classifiers():
    with pytest.raises(ctrlgen.ConfigError):
        register_classifier("not-a-classifier")(dict)


# ------------------------------------------------------------------------------------- save / load
def test_save_load_round_trip(toy, tmp_path):
    toy.training_info = {"steps": 3}
    path = toy.save_pretrained(tmp_path / "toy")
    back = load_classifier(path, expect=toy.fingerprint)
    assert type(back) is ToyClassifier and back.fingerprint == toy.fingerprint and back.training_info == {"steps": 3}
    for k, v in toy.state_dict().items():
        assert torch.equal(v, back.state_dict()[k])
    x, t = torch.randn(3, 24, 8), torch.tensor([0, 5, 99])
    assert torch.equal(toy.log_prob(x, t, torch.tensor([1])), back.log_prob(x, t, torch.tensor([1])))


@pytest.mark.parametrize("field,change", [("vocab_size", {"vocab_size": 7}), ("embed_dim", {"embed_dim": 4}),
                                          ("schedule", {"schedule": "cosine"}),
                                          ("diffusion_steps", {"diffusion_steps": 50})])
def test_fingerprint_mismatch_names_the_field(toy, tmp_path, field, change):
    path = toy.save_pretrained(tmp_path / "toy")
    other = dataclasses.replace(toy.fingerprint, **change)
    with pytest.raises(CheckpointError) as e:
        load_classifier(path, expect=other)
    assert field in e.value.message and "train-classifier" in e.value.hint


def test_classifier_for_another_model_fails_before_sampling(toy, tokenizer, tmp_path):
    other_lm = EmbeddingLM(tiny_config(len(tokenizer), embed_dim=8)).eval()  # same shapes, other embeddings
    cosine = GaussianDiffusion.from_config(DiffusionConfig(steps=100, schedule="cosine"))
    gen = EmbeddingGenerator(other_lm, tokenizer, cosine, tmp_path)
    with pytest.raises(CheckpointError) as e:
        gen.generate(n=1, steps=2, constraints=Classifier(toy, 1))
    assert "schedule" in e.value.message and "embeddings" in e.value.message


def test_registered_name_is_found_beside_the_model(gen, toy, model_dir):
    toy.save_pretrained(model_dir / "classifiers" / "toy")
    p = gen.prepare(Classifier("test-toy.v1", 1, weight=2.0))
    (term,) = p.soft_terms
    assert term.weight == 2.0 and isinstance(term.constraint.classifier_module, ToyClassifier)
    with pytest.raises(CheckpointError, match="no trained"):
        gen.prepare(SemanticField("food", "Italian", steer="classifier"))  # nothing saved beside the tiny model


# --------------------------------------------------------------------------------------- guidance
def test_guidance_lowers_the_classifiers_nll(gen, toy, tiny_model):
    cfg = GuidanceConfig(num_inner=3, step_size=0.1, fluency_weight=0.0, stop=1.0)
    free = gen.generate(n=16, steps=10, seed=0)
    guided = gen.generate(n=16, steps=10, seed=0, constraints=Classifier(toy, 1), guidance=cfg)

    def nll(out):
        with torch.no_grad():
            return float(-toy.log_prob(tiny_model.embed(out.tokens), torch.zeros(16, dtype=torch.long),
                                       torch.tensor([1])).mean())

    assert nll(guided) < nll(free)


def test_strength_zero_is_bit_identical_with_a_classifier(gen, toy):
    free = gen.generate(n=4, steps=8, seed=3)
    for cfg, w in ((GuidanceConfig(step_size=0.0), 1.0), (GuidanceConfig(), 0.0)):
        out = gen.generate(n=4, steps=8, seed=3, constraints=Classifier(toy, 1, weight=w), guidance=cfg)
        assert torch.equal(out.tokens, free.tokens)


def test_fit_classifier_learns_and_records_fingerprint(gen, tiny_texts):
    ids = torch.tensor([gen.tokenizer.encode(t, 24) for t in tiny_texts])
    labels = torch.tensor([int("Italian" in t) for t in tiny_texts])
    clf = ToyClassifier(embed_dim=8)
    data = ClassifierData(ids, labels)
    t0 = torch.zeros(len(ids), dtype=torch.long)
    with torch.no_grad():
        before = float(-clf.log_prob(gen.model.embed(ids), t0, labels).mean())
        info = fit_classifier(clf, gen, data, steps=60, batch_size=8, lr=1e-2, progress=False)  # grad on inside
        after = float(-clf.log_prob(gen.model.embed(ids), t0, labels).mean())
    assert after < before and info["steps"] == 60
    assert clf.fingerprint == ModelContext.of(gen.model, gen.diffusion).fingerprint


# ------------------------------------------------------------------------------------ constraints
def test_bad_inputs_raise_with_hints(gen):
    with pytest.raises(ConstraintError) as e:
        SemanticField("cuisine", "Japanese")
    assert "eatType" in e.value.hint and "customer rating" in e.value.hint
    with pytest.raises(ConstraintError) as e:
        POS(["DET", "NOUNZ"])
    assert "PROPN" in e.value.hint
    long_tree = "(S " + " ".join(f"(NN w{k})" for k in range(30)) + ")"
    with pytest.raises(ConstraintError, match="30 leaves"):
        gen.generate(n=1, steps=2, constraints=SyntaxTree(long_tree))  # seq_len 24: before sampling
    with pytest.raises(ConstraintError, match="seq_len"):
        gen.generate(n=1, steps=2, constraints=POS(["NOUN"] * 23))
    for bad in ("not a tree", "(S (NP"):
        with pytest.raises(ConstraintError):
            SyntaxTree(bad)
    with pytest.raises(ConstraintError):
        SyntaxSpans([(5, 3, "NP")])
    with pytest.raises(ctrlgen.ConfigError):
        Classifier("test-toy.v1", 1, weight=-1)


def test_target_errors_come_from_the_classifier(gen, toy):
    with pytest.raises(ConstraintError, match="out of range"):
        gen.prepare(Classifier(toy, 7))


def test_soft_face_needs_the_model(tokenizer, toy):
    with pytest.raises(ConstraintError) as e:
        prepare(Classifier(toy, 1), tokenizer, 24, "embedding")
    assert "ModelContext" in e.value.hint
    # the check face alone needs no classifier: the edit backend only checks
    p = prepare(SemanticField("food", "Italian"), tokenizer, 24, "edit")
    assert p.satisfied(["An Italian pub .", "A pub ."]) == [True, False]


def test_check_faces(monkeypatch):
    assert SemanticField("priceRange", "£20-25").satisfied(["It costs £20 - 25 ."]) == [True]
    from ctrlgen.constraints import syntax

    tree = "(TOP (S (NP (DT The) (NN pub)) (VP (VBZ is) (ADJP (JJ cheap))) (. .)))"
    monkeypatch.setattr(syntax, "parse_words", lambda sents: [tree for _ in sents])  # a stub oracle
    c = SyntaxTree(tree)
    assert c.n_words == 5 and (0, 1, "NP") in c.spans and c.satisfied(["x"]) == [True]
    assert SyntaxSpans("0:1:NP,2:3:VP").score(["x"]) == [1.0]
    assert SyntaxSpans([(0, 2, "NP")]).satisfied(["x"]) == [False]


def test_specs_parse():
    assert parse_constraint("food=Japanese") == SemanticField("food", "Japanese")
    assert parse_constraint("customer rating=5 out of 5") == SemanticField("customer rating", "5 out of 5")
    assert parse_constraint("pos=PROPN,AUX,DET").tags == ("PROPN", "AUX", "DET")
    assert parse_constraint("span=3:5:PP").spans == ((3, 5, "PP"),)
    assert parse_constraint("span=0:1:NP, 3:5:PP").spans == ((0, 1, "NP"), (3, 5, "PP"))
    assert parse_constraint("tree=(S (NP (DT The) (NN pub)) (VP (VBZ is)))").n_words == 3
    assert parse_constraint("food=Japanese;classifier=some/dir").classifier == "some/dir"
    with pytest.raises(RegistryError) as e:
        parse_constraint("cuisine=Japanese")
    assert "food" in e.value.hint
    with pytest.raises(ConstraintError):
        parse_constraint("span=3-5")
    with pytest.raises(ConstraintError):
        parse_constraint("pos=PROPN,FOO")
