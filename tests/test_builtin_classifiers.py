"""The built-in classifiers (``classifiers/``) on a tiny model: data, targets, training, guidance, save/load."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from conftest import TINY_CSV

import ctrlgen
from ctrlgen import (
    CLASSIFIERS,
    ConstraintError,
    ModelContext,
    fit_classifier,
    load_classifier,
)
from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.oracles.pos import POS_MODELS
from ctrlgen.text.e2e import read_e2e_csv

pytest.importorskip("classifiers")
HAVE_TAGGER = any(importlib.util.find_spec(m) is not None for m in POS_MODELS)
SMALL = {"hidden": 16, "layers": 1, "heads": 2}


@pytest.fixture
def ctx(tiny_model, tokenizer, diffusion, model_dir):
    return ModelContext.of(tiny_model, diffusion, model_dir, tokenizer)


@pytest.fixture
def rows():
    return read_e2e_csv(TINY_CSV)


def test_semantic_classifier(ctx, rows, tmp_path):
    clf = CLASSIFIERS.get("semantic.v1").create(rows, ctx, **SMALL)
    data = clf.make_data(rows, ctx)
    assert data.ids.shape == (10, 24) and data.targets.shape == (10, 8)
    assert clf.values["food"] == ["none", "Italian"]
    fit_classifier(clf, ctx, data, steps=3, batch_size=4, progress=False)
    target = clf.encode_target(("food", "Italian"), ctx.tokenizer, 24)
    assert target.tolist()[0].count(-1) == 7
    lp = clf.log_prob(torch.randn(2, 24, 8), torch.tensor([0, 50]), target)
    assert lp.shape == (2,) and bool((lp <= 0).all())
    with pytest.raises(ConstraintError) as e:
        clf.encode_target(("food", "Italain"), ctx.tokenizer, 24)
    assert "'Italian'" in e.value.hint
    path = clf.save_pretrained(tmp_path / "classifiers" / "semantic")
    back = load_classifier(path, expect=ctx)
    assert torch.equal(back.log_prob(torch.ones(1, 24, 8), torch.tensor([3]), target),
                       clf.log_prob(torch.ones(1, 24, 8), torch.tensor([3]), target))


def test_semantic_field_steers_through_the_saved_classifier(ctx, rows, tiny_model, tokenizer, diffusion, model_dir):
    clf = CLASSIFIERS.get("semantic.v1").create(rows, ctx, **SMALL)
    fit_classifier(clf, ctx, clf.make_data(rows, ctx), steps=2, batch_size=4, progress=False)
    clf.save_pretrained(model_dir / "classifiers" / "semantic")
    gen = EmbeddingGenerator(tiny_model, tokenizer, diffusion, model_dir)
    out = gen.generate(n=2, steps=4, constraints=ctrlgen.SemanticField("food", "Italian", steer="classifier"))
    assert list(out.report["constraints"]) == ["SemanticField('food', 'Italian')"]
    with pytest.raises(ConstraintError, match="never saw"):
        gen.generate(n=2, steps=4, constraints=ctrlgen.SemanticField("food", "Thai", steer="classifier"))


@pytest.mark.skipif(not HAVE_TAGGER, reason=f"no spaCy English model installed ({' or '.join(POS_MODELS)})")
def test_pos_classifier(ctx, rows):
    clf = CLASSIFIERS.get("pos.v1").create(rows, ctx, **SMALL)
    data = clf.make_data(rows, ctx)
    start, pad = clf.tags.index("START"), clf.tags.index("PAD")
    assert data.targets.shape == (10, 24) and bool((data.targets[:, 0] == start).all())
    fit_classifier(clf, ctx, data, steps=2, batch_size=4, progress=False)
    target = clf.encode_target(["PROPN", "AUX", "NOUN"], ctx.tokenizer, 24)
    assert target[0, 4] == clf.tags.index("END") and target[0, -1] == pad
    assert clf.log_prob(torch.randn(3, 24, 8), torch.tensor([0, 1, 2]), target).shape == (3,)
    with pytest.raises(ConstraintError):
        clf.encode_target(["NOUN"] * 23, ctx.tokenizer, 24)


def test_span_classifier_with_stub_parser(ctx, rows, monkeypatch):
    from nltk import Tree

    def parse(sents):  # a right-branching stub "parser": (S w0 (X w1 (X w2 ...)))
        def build(words, label):
            leaf = Tree("NN", [words[0]])
            return Tree(label, [leaf, build(words[1:], "X")]) if len(words) > 1 else Tree(label, [leaf])
        return [Tree("TOP", [build(list(s), "S")]) for s in sents]

    monkeypatch.setattr(ctrlgen.SyntaxTree, "parse_words", staticmethod(parse))
    klass = CLASSIFIERS.get("syntax.v1")
    clf = klass.create(rows, ctx, min_count=1, **SMALL)
    assert clf.labels[:1] == [""] and "S" in clf.labels
    data = clf.make_data(rows, ctx)
    fit_classifier(clf, ctx, data, steps=2, batch_size=4, progress=False)
    tree = ctrlgen.SyntaxTree("(S (NN a) (X (NN b) (X (NN c))))")
    chart = clf.encode_target(tree.classifier_target(), ctx.tokenizer, 24)
    assert chart[0, 1, 3] == clf.labels.index("S") and chart[0, 1, 2] == 0 and chart[0, 0, 0] == -1
    spans = clf.encode_target(ctrlgen.SyntaxSpans("1:2:X").classifier_target(), ctx.tokenizer, 24)
    assert int((spans >= 0).sum()) == 1
    assert clf.log_prob(torch.randn(2, 24, 8), torch.tensor([0, 9]), chart).shape == (2,)
    with pytest.raises(ConstraintError, match="label"):
        clf.encode_target(ctrlgen.SyntaxSpans("1:2:PP").classifier_target(), ctx.tokenizer, 24)


def test_train_classifier_command(model_dir, tmp_path, capsys):
    from ctrlgen.cli.main import main

    out = tmp_path / "sem"
    assert main(["train-classifier", "semantic", "--model", str(model_dir), "--data", str(TINY_CSV), "--valid",
                 str(TINY_CSV), "--steps", "2", "--out", str(out), "--option", "hidden=16", "--option",
                 "layers=1"]) == 0
    readme = (out / "README.md").read_text()
    assert "ctrlgen train-classifier" in readme and "| clean |" in readme
    clf = load_classifier(out)
    assert clf.hparams["hidden"] == 16 and clf.training_info["steps"] == 2
    assert main(["train-classifier", "semantics", "--model", str(model_dir), "--data", str(TINY_CSV)]) == 2
    assert "semantic.v1" in capsys.readouterr().err


def test_prepared_cache_round_trip_and_mismatch(model_dir, tmp_path):
    """--prepared: the second run reads the cache (no oracle, no create) and trains the same classifier."""
    from safetensors.torch import load_file

    from ctrlgen.cli.train_classifier import train
    from ctrlgen.errors import ConfigError

    cache = tmp_path / "semantic.pt"
    kw = dict(steps=2, data=str(TINY_CSV), valid=str(TINY_CSV), options={"hidden": 16, "layers": 1},
              prepared_file=str(cache), device="cpu")
    a = train("semantic", str(model_dir), out=str(tmp_path / "a"), **kw)
    assert cache.is_file()
    b = train("semantic", str(model_dir), out=str(tmp_path / "b"), **kw)
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert "--prepared" not in (b / "README.md").read_text()
    other = tmp_path / "other.csv"
    other.write_text(TINY_CSV.read_text().replace("Italian pub", "Italian inn"))
    with pytest.raises(ConfigError, match="was built for"):
        train("semantic", str(model_dir), out=str(tmp_path / "c"), **{**kw, "data": str(other)})
    assert b"\x80" not in cache.read_bytes()[:16]  # safetensors, no pickle


def test_a_pickled_prepared_file_is_refused_never_loaded(model_dir, tmp_path):
    """The old format (a gzipped torch.save) is no longer read at all: nothing in a prepared file can run code."""
    import gzip

    from ctrlgen.cli.train_classifier import train
    from ctrlgen.errors import ConfigError

    marker, cache = tmp_path / "pwned", tmp_path / "semantic.pt"

    class TouchOnLoad:
        def __reduce__(self):
            return type(marker).touch, (marker,)

    with gzip.open(cache, "wb") as f:
        torch.save({"key": {}, "payload": TouchOnLoad()}, f)
    with pytest.raises(ConfigError, match="not a prepared-data file"):
        train("semantic", str(model_dir), out=str(tmp_path / "a"), steps=2, data=str(TINY_CSV), valid=str(TINY_CSV),
              options={"hidden": 16, "layers": 1}, prepared_file=str(cache), device="cpu")
    assert not marker.exists()


def test_semantic_token_classifier_on_the_discrete_backend(tokenizer, rows, tmp_path):
    """semantic-token.v1: trained on the discrete model's own noise, found beside the model by SemanticField,
    guidance strength 0 is unguided bit for bit, and guidance raises the classifier's own log p."""
    from ctrlgen.backends.discrete.generator import DiscreteGenerator
    from ctrlgen.backends.discrete.model import ScoreModel, ScoreModelConfig
    from ctrlgen.errors import CheckpointError, ConfigError
    from ctrlgen.models.pretrained import save_pretrained
    from ctrlgen.registry import SOFT_EMBEDDING, SOFT_TOKEN
    from ctrlgen.training.classifiers import evaluate_classifier

    torch.manual_seed(0)
    m = ScoreModel(ScoreModelConfig(vocab_size=len(tokenizer), seq_len=24, hidden=32, layers=2, heads=2, dropout=0.0))
    torch.nn.init.normal_(m.head.weight, std=0.5)
    path = save_pretrained(tmp_path / "sedd", m.eval(), tokenizer, {"diffusion": {"graph": "absorbing"}})
    gen = ctrlgen.load(path)
    assert isinstance(gen, DiscreteGenerator)
    field = ctrlgen.SemanticField("food", "Italian", steer="classifier")
    assert {SOFT_TOKEN, SOFT_EMBEDDING} <= field.faces
    with pytest.raises(CheckpointError, match="train-classifier semantic"):
        gen.generate(n=1, steps=2, constraints=field)

    ctx = ModelContext.of(gen.model, gen.diffusion, path, tokenizer)
    assert ctx.space == "token" and ctx.fingerprint.embeddings is None
    clf = CLASSIFIERS.get("semantic-token.v1").create(rows, ctx, embed_dim=8, **SMALL)
    data = clf.make_data(rows, ctx)
    fit_classifier(clf, gen, data, steps=60, batch_size=8, progress=False)
    metrics = evaluate_classifier(clf, gen, data, fractions=(0.5,))
    assert set(metrics) == {"clean", "t=0.50"} and metrics["clean"]["acc"] > 0.5
    clf.save_pretrained(path / "classifiers" / "semantic")
    from ctrlgen.cli.train_classifier import KINDS, TOKEN_KINDS

    assert set(TOKEN_KINDS) == set(KINDS)  # every built-in kind has its token-space classifier (tree: issue 14)
    with pytest.raises(ConfigError, match="token"):  # a token-space classifier for an embedding model
        fit_classifier(clf, ModelContext.of(*_embedding_model(tokenizer)), data, steps=1)

    plain = gen.generate(n=64, steps=6, seed=3)
    zero = gen.generate(n=64, steps=6, seed=3, constraints=field, guidance_scale=0.0)
    assert torch.equal(plain.tokens, zero.tokens)
    target = clf.encode_target(("food", "Italian"), tokenizer, 24)

    def log_p(tokens):
        onehot = torch.nn.functional.one_hot(tokens, len(tokenizer)).float()
        return clf.log_prob(onehot, torch.zeros(len(tokens)), target).mean()

    for mode in ("on-move", "every-step"):  # a tiny model steers weakly: 64 samples, γ = 4 (about +0.006 nats)
        guided = gen.generate(n=64, steps=6, seed=3, constraints=field, guidance_scale=4.0, guidance_mode=mode)
        assert list(guided.report["constraints"]) == ["SemanticField('food', 'Italian')"]
        assert log_p(guided.tokens) > log_p(plain.tokens), mode


def _embedding_model(tokenizer):
    from conftest import tiny_config

    from ctrlgen.backends.embedding.diffusion import DiffusionConfig, GaussianDiffusion
    from ctrlgen.backends.embedding.model import EmbeddingLM

    return EmbeddingLM(tiny_config(len(tokenizer))), GaussianDiffusion.from_config(DiffusionConfig(steps=100))
