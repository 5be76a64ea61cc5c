"""The documented user-defined classifier (recipes/user_classifier.py) trains in seconds and steers the
bundled model: guided samples mention the keyword at least as often and score better under it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

import ctrlgen

RECIPE = Path(__file__).parent.parent / "recipes" / "user_classifier.py"


def _recipe():
    spec = importlib.util.spec_from_file_location("user_classifier", RECIPE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_user_classifier_steers_generation(tmp_path):
    uc = _recipe()
    gen = ctrlgen.load("e2e")
    clf = uc.train(gen, uc.template_texts(200), ["riverside", "Italian"], steps=150)
    free, guided = uc.compare(gen, clf, "riverside", n=8, steps=100)  # λ = 0.01, K = 3, step 0.1
    hits = [sum(uc.mentions("riverside", gen.tokenizer, o.texts)) for o in (free, guided)]
    assert hits[1] >= hits[0] and hits[1] > 0
    target = clf.encode_target("riverside", gen.tokenizer, 48)
    with torch.no_grad():
        nll = [float(-clf.log_prob(gen.model.embed(o.tokens), torch.zeros(8, dtype=torch.long), target).mean())
               for o in (free, guided)]
    assert nll[1] < nll[0]
    assert guided.report["constraints"]["Classifier('KeywordClassifier', 'riverside')"]["satisfied"].count(True) == hits[1]

    path = clf.save_pretrained(tmp_path / "keyword")  # a registered plug-in saves and reloads for its model
    back = ctrlgen.load_classifier(path, expect=ctrlgen.ModelContext.of(gen.model, gen.diffusion))
    assert back.words == ["riverside", "Italian"]
