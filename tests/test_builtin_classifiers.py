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
from ctrlgen.evaluation import POS_MODELS
from ctrlgen.pipeline import EmbeddingGenerator
from ctrlgen.text import read_e2e_csv

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
    out = gen.generate(n=2, steps=4, constraints=ctrlgen.SemanticField("food", "Italian"))
    assert list(out.report["constraints"]) == ["SemanticField('food', 'Italian')"]
    with pytest.raises(ConstraintError, match="never saw"):
        gen.generate(n=2, steps=4, constraints=ctrlgen.SemanticField("food", "Thai"))


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
    from ctrlgen.cli import main

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
